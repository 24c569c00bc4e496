// What the page says: the server's refusal reasons as sentences, field errors, and times in
// the viewer's own time zone and language.

const REASONS = {
  // Joining a room.
  "event not found": "This event no longer exists.",
  "ticket required": "Enter your ticket number to join this chat for the first time.",
  "invalid ticket": "That ticket number is not valid for this event. Check it and try again.",
  "ticket already used": "That ticket has already been used by someone else.",
  "too many attempts": "Too many ticket numbers were tried. Wait a moment, then try again.",
  // Posting.
  "room not active": "The chat is not open right now, so the message was not sent.",
  "too many messages": "You are sending messages too quickly. Wait a moment, then send it again.",
  "too many requests": "Too many requests at once. Wait a moment and try again.",
  "empty message": "Write something before sending.",
  "message too long": "That message is too long: at most 4,000 characters.",
  "invalid content": "That message contains characters that cannot be sent.",
  unauthorized: "You are not allowed to do that.",
  "too many channels joined": "Too many chats are open in this tab. Close some and try again.",
  // The organisers' moderation (the sentences with a time or a wait are made below).
  removed: "The organisers removed you from this chat, so you cannot join it again.",
  muted: "The organisers muted you, so the message was not sent.",
  "slow mode": "Slow mode is on: wait a moment before sending another message.",
};

/** A sentence for a refused join: its `reason`, and how long to wait when it says so. */
export function refusalSentence(reply) {
  const wait = Math.ceil(Number(reply && reply.retry_after));
  if (reply && reply.reason === "too many attempts" && wait > 0) {
    return `Too many ticket numbers were tried. Wait ${wait} ${wait === 1 ? "second" : "seconds"}, then try again.`;
  }
  return reasonSentence(reply && reply.reason);
}

/** A sentence for a refused post: its `reason`, with until when (muted) or how long to wait
 * (slow mode) when it says so. */
export function postRefusalSentence(reply) {
  const reason = reply && reply.reason;
  const until = parseServerTime(reply && reply.until);
  if (reason === "muted" && until) {
    return `The organisers muted you until ${messageTime(until)}, so the message was not sent.`;
  }
  const wait = Math.ceil(Number(reply && reply.retry_after));
  if (reason === "slow mode" && wait > 0) {
    return `Slow mode: wait ${durationWords(wait)} before sending another message.`;
  }
  return reasonSentence(reason);
}

/** A sentence for an error reply's `reason`. */
export function reasonSentence(reason) {
  if (typeof reason === "string" && REASONS[reason]) return REASONS[reason];
  return `The server refused this${typeof reason === "string" ? ` (${reason})` : ""}.`;
}

const FIELD_NAMES = {
  username: "Name",
  email: "Email",
  password: "Password",
  password_hash: "Password",
};

/** Sentences for a 422's `{"errors": {"field": ["message", ...]}}`. */
export function fieldErrorSentences(errors) {
  const sentences = [];
  for (const [field, messages] of Object.entries(errors || {})) {
    const name = FIELD_NAMES[field] || field.replaceAll("_", " ");
    for (const message of [].concat(messages)) {
      sentences.push(`${name} ${message}.`);
    }
  }
  return sentences.join(" ");
}

/** The server's times are naive UTC (`2025-01-01T19:00:07`). */
export function parseServerTime(text) {
  if (typeof text !== "string") return null;
  const date = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(text) ? text : `${text}Z`);
  return Number.isNaN(date.getTime()) ? null : date;
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

const CLOCK = { hour: "2-digit", minute: "2-digit" };

/** "14:05" today, "3 Dec, 14:05" another day this year, "3 Dec 2024, 14:05" before. */
export function messageTime(date, now = new Date()) {
  if (sameDay(date, now)) return date.toLocaleTimeString(undefined, CLOCK);
  const options = { day: "numeric", month: "short", ...CLOCK };
  if (date.getFullYear() !== now.getFullYear()) options.year = "numeric";
  return date.toLocaleString(undefined, options);
}

/** "Sat 4 Jan 2025, 20:00": for event times and a room's opening time. */
export function eventTime(date) {
  return date.toLocaleString(undefined, {
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
    ...CLOCK,
  });
}

/** The complete moment, with the time zone, for a `title`. */
export function fullTime(date) {
  return date.toLocaleString(undefined, { dateStyle: "full", timeStyle: "long" });
}

/** A room opens two hours before its event starts. */
export const ROOM_OPENS_BEFORE_MS = 2 * 60 * 60 * 1000;

export function roomOpensAt(event) {
  const start = parseServerTime(event.start_time);
  return start ? new Date(start.getTime() - ROOM_OPENS_BEFORE_MS) : null;
}

/** "alice is typing…", "alice and bob are typing…", "4 people are typing…". */
export function typingSentence(names) {
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

/** "1 second", "45 seconds", "2 minutes", "1 minute 30 seconds", "1 hour". */
export function durationWords(seconds) {
  const total = Math.max(0, Math.round(seconds));
  const parts = [];
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = total % 60;
  const unit = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  if (hours) parts.push(unit(hours, "hour"));
  if (minutes) parts.push(unit(minutes, "minute"));
  if (rest || parts.length === 0) parts.push(unit(rest, "second"));
  return parts.join(" ");
}

// ------------------------------------------------------------------ the organisers

/** What a hidden message shows instead of its content, wherever it is shown. */
export const HIDDEN_MESSAGE = "Message hidden by the organisers";

/** The badge on an organiser's announcement (a word, so it reads without colour). */
export const ORGANISER_BADGE = "Organiser";

/** "Slow mode: one message every 30 seconds." (nothing when it is off) */
export function slowModeSentence(seconds) {
  if (!(seconds > 0)) return "";
  if (seconds === 1) return "Slow mode: one message every second.";
  return `Slow mode: one message every ${durationWords(seconds)}.`;
}

/** The member's own mute, until `until` (a Date). */
export function mutedSentence(until) {
  return `The organisers muted you until ${messageTime(until)}: you can read along, but your messages are not sent until then.`;
}

/** The composer's placeholder while muted. */
export function mutedPlaceholder(until) {
  return `Muted until ${messageTime(until)}`;
}

/** Said (to screen readers) when a mute ends. */
export const UNMUTED = "Your mute has ended: you can send messages again.";

/** The organisers removed the member; `reason` is theirs, shown as they wrote it. */
export function removedSentence(reason) {
  const why = typeof reason === "string" ? reason.trim() : "";
  return `The organisers removed you from this chat.${why ? ` Their reason: “${why}”.` : ""} You cannot join it again.`;
}

/** Shown in place of the removal once the organisers undid it; the notice offers the way in. */
export const REINSTATED = "The organisers let you back into this chat. Choose “Join again” to join it.";

/** "1 person", "1,204 people". */
export function peopleWords(count) {
  return `${count.toLocaleString()} ${count === 1 ? "person" : "people"}`;
}

/** In a big room only the member's own entry is listed: "and 1,203 others" below it. */
export function othersWords(count) {
  return `and ${count.toLocaleString()} ${count === 1 ? "other" : "others"}`;
}

/** A new message as a screen reader hears it. */
export function messageAnnouncement(message) {
  const text = message.hidden ? HIDDEN_MESSAGE : message.content;
  if (message.author_role === "organiser") return `Announcement from the organisers (${message.username}): ${text}`;
  return `${message.username}: ${text}`;
}
