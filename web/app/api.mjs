// The REST API, as the page uses it. Every failure becomes an ApiError with a sentence to show.

import { fieldErrorSentences } from "./words.mjs";

export class ApiError extends Error {
  constructor(status, sentence, body) {
    super(sentence);
    this.status = status;
    this.body = body;
  }
}

/**
 * `await api("/api/events", {token})` → the `data` of the answer (undefined for a 204), or with
 * `whole` the whole answer (a page's `data` and what it says beside it, such as `next_cursor`).
 * `onUnauthorized` is called on a 401 to a signed-in request (the token was revoked or
 * expired), before the ApiError is thrown.
 */
export async function api(path, { method = "GET", body, token, onUnauthorized, whole = false } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "Cannot reach the server. Check your connection and try again.");
  }
  if (response.status === 204) return undefined;
  let json = null;
  try {
    json = await response.json();
  } catch {
    // Not JSON (a proxy's error page): the status says enough.
  }
  if (response.ok) return json ? (whole ? json : json.data) : undefined;
  if (response.status === 401 && token && onUnauthorized) onUnauthorized();
  const wait = Math.ceil(Number(response.headers.get("Retry-After")));
  throw new ApiError(response.status, sentenceFor(response.status, json, wait), json);
}

function waitWords(seconds) {
  if (!(seconds > 0)) return "a moment";
  if (seconds < 120) return `${seconds} ${seconds === 1 ? "second" : "seconds"}`;
  return `${Math.ceil(seconds / 60)} minutes`;
}

function sentenceFor(status, json, wait) {
  const errors = json && json.errors;
  if (status === 429) return `Too many attempts. Wait ${waitWords(wait)}, then try again.`;
  if (status === 503) return `The server is busy. Try again in ${waitWords(wait)}.`;
  if (status === 422 && errors) return fieldErrorSentences(errors) || "Some fields are not valid.";
  if (status === 401) return "You are not signed in, or your session has ended.";
  if (status === 403) return "You are not allowed to do that.";
  if (status === 404) return "Not found: it may have been deleted.";
  if (status === 413) return "That is too large to send.";
  if (status >= 500) return "The server had a problem. Try again in a moment.";
  const detail = errors && typeof errors.detail === "string" ? ` (${errors.detail})` : "";
  return `The request failed${detail}.`;
}
