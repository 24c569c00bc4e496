// What the browser scenarios share: Chromium, the service's REST API, people using the page,
// a TCP proxy that can cut a browser off the network, and bots that post over phoenix.js.
//
// The service under test is a real one on a loopback port (started by the pytest side, which
// passes CHAT_URL and CHAT_SERVICE_KEY). Every wait is for a state of the page or the
// service, bounded by WAIT_MS only so that a failure does not hang; nothing sleeps.

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { chromium } from "playwright-core";
import { LongPoll, Socket } from "../../web/node_modules/phoenix/priv/static/phoenix.mjs";

export const BASE_URL = required("CHAT_URL");
const SERVICE_KEY = required("CHAT_SERVICE_KEY");
export const SCREENSHOTS = process.env.SCREENSHOT_DIR || new URL("./screenshots/", import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const WAIT_MS = 15_000;
export const PASSWORD = "correct horse battery";
export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (the pytest side starts the service and sets it)`);
  return value;
}

let counter = 0;
/** A name no other scenario (or run against the same database) uses. */
export function unique(prefix) {
  counter += 1;
  return `${prefix}-${process.pid.toString(36)}${Date.now().toString(36)}${counter}`;
}

// ------------------------------------------------------------------------------ REST

export async function rest(method, urlPath, { body, token, service = false, expected } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (service) headers.Authorization = `Bearer ${SERVICE_KEY}`;
  else if (token) headers.Authorization = `Bearer ${token}`;
  const send = () =>
    fetch(new URL(urlPath, BASE_URL), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  let response = await send();
  // As a client should: when the service is busy (a crowd signing up at once fills the
  // password-hashing queue), come back after the Retry-After it gives.
  for (let tries = 1; response.status === 503 && response.headers.has("retry-after") && tries < 5; tries += 1) {
    await response.arrayBuffer();
    await new Promise((resolve) => setTimeout(resolve, 1000 * Number(response.headers.get("retry-after"))));
    response = await send();
  }
  const json = response.status === 204 ? null : await response.json();
  if (expected !== undefined) {
    assert.equal(response.status, expected, `${method} ${urlPath}: ${JSON.stringify(json)}`);
  }
  return json;
}

/** "YYYY-MM-DD HH:MM:SS" in UTC, the form the reservation system sends. */
export function serviceTime(ms) {
  return new Date(ms).toISOString().slice(0, 19).replace("T", " ");
}

const HOUR = 3_600_000;
export const ROOM_LEAD_MS = 2 * HOUR;

/** An event; `start`/`end` are epoch ms (default: started an hour ago, so its room is open). */
export async function createEvent({ name = unique("Event"), start = Date.now() - HOUR, end = Date.now() + 3 * HOUR, location = "Antalya" } = {}) {
  const body = await rest("POST", "/api/events/create_event", {
    service: true,
    expected: 201,
    body: { event: { name, description: `${name}, live`, location, start_time: serviceTime(start), end_time: serviceTime(end) } },
  });
  return body.data;
}

export async function updateEvent(id, changes) {
  const body = await rest("POST", "/api/events/update_event", {
    service: true,
    expected: 200,
    body: { id, event: changes },
  });
  return body.data;
}

export async function createTicket(eventId) {
  const number = unique("T").toUpperCase();
  await rest("POST", "/api/tickets/create", {
    service: true,
    expected: 201,
    body: { ticket: { ticket_number: number, event_id: eventId } },
  });
  return number;
}

/** The organisers' moderation, as the reservation system asks for it (service key):
 * `moderate(eventId, "mute", {user_id, duration_seconds})` → the answer's `data`. */
export async function moderate(eventId, action, body) {
  const answer = await rest("POST", `/api/events/${eventId}/moderation/${action}`, { service: true, expected: 200, body });
  return answer.data;
}

/** An organiser's announcement in the event's room → the stored message. */
export async function announce(eventId, content, { actor } = {}) {
  const answer = await rest("POST", `/api/events/${eventId}/announcements`, {
    service: true,
    expected: 201,
    body: actor ? { content, actor } : { content },
  });
  return answer.data;
}

export async function signUpOverRest(username) {
  const body = await rest("POST", "/api/users/create", {
    expected: 201,
    body: { user_params: { username, email: `${username.toLowerCase()}@example.com`, password: PASSWORD } },
  });
  return body.data;
}

// --------------------------------------------------------------------------- Chromium

/** Where a screenshot goes (a folder git ignores): `<name>.png`. */
export function screenshotPath(name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return path.join(SCREENSHOTS, `${name}.png`);
}

export async function launchChromium() {
  // launch() gives the browser a fresh temporary profile (user-data-dir) and removes it after.
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** One person in their own browser context (own storage, own time zone). */
export class Person {
  static async open(browser, { name, viewport = DESKTOP, timezoneId = "Europe/Istanbul", locale = "en-GB", baseURL = BASE_URL } = {}) {
    const context = await browser.newContext({ viewport, timezoneId, locale, baseURL });
    context.setDefaultTimeout(WAIT_MS);
    const page = await context.newPage();
    const person = new Person(context, page, name || unique("fan"), timezoneId);
    await page.goto("/");
    await page.locator("#auth-view").waitFor();
    return person;
  }

  constructor(context, page, username, timezoneId) {
    this.context = context;
    this.page = page;
    this.username = username;
    this.timezoneId = timezoneId;
    this.email = `${username.toLowerCase()}@example.com`;
    this.dialogs = [];
    this.pageErrors = [];
    page.on("dialog", (dialog) => {
      this.dialogs.push(dialog.message());
      dialog.dismiss().catch(() => {});
    });
    page.on("pageerror", (error) => this.pageErrors.push(String(error && error.stack || error)));
  }

  /** Sign up through the page's form, with the keyboard. */
  async signUp() {
    const { page } = this;
    await page.getByRole("button", { name: "Create an account" }).click();
    await page.getByLabel("Name shown in chats").fill(this.username);
    await page.locator("#sign-up-email").fill(this.email);
    await page.locator("#sign-up-password").fill(PASSWORD);
    await page.locator("#sign-up-password").press("Enter");
    await page.locator("#events-view").waitFor();
    this.userId = await page.evaluate(() => JSON.parse(sessionStorage.getItem("ticket-chat:session")).user.id);
  }

  /** The token the page holds (sessionStorage), for REST calls as this person. */
  async token() {
    return this.page.evaluate(() => JSON.parse(sessionStorage.getItem("ticket-chat:session")).token);
  }

  /** The room's messages as the REST API serves them to this person (id, seq, content…). */
  async storedMessages(eventId) {
    const answer = await rest("GET", `/api/events/${eventId}/messages?limit=100`, { token: await this.token(), expected: 200 });
    return answer.data;
  }

  async signIn({ password = PASSWORD } = {}) {
    const { page } = this;
    await page.locator("#sign-in-email").fill(this.email);
    await page.locator("#sign-in-password").fill(password);
    await page.locator("#sign-in-password").press("Enter");
  }

  card(eventName) {
    return this.page.locator(".event-card", { has: this.page.getByRole("heading", { name: eventName, exact: true }) });
  }

  /** "Join chat" on the event's card, with a ticket number or (a returning holder) without. */
  async joinFromList(eventName, ticket = null) {
    const card = this.card(eventName);
    const input = card.getByLabel("Ticket number");
    await input.fill(ticket || "");
    await input.press("Enter");
    await this.page.locator("#room-view").waitFor();
  }

  async waitJoined() {
    await this.page.locator("#room-body").waitFor();
  }

  /** Type into the composer and press Enter, as a person would. */
  async send(text) {
    const input = this.page.locator("#composer-input");
    await input.focus();
    const lines = text.split("\n");
    for (const [i, line] of lines.entries()) {
      if (i) await this.page.keyboard.press("Shift+Enter");
      await this.page.keyboard.type(line);
    }
    await this.page.keyboard.press("Enter");
  }

  /** The messages shown, in page order. */
  async messages() {
    return this.page.$$eval("#messages > li", (items) =>
      items.map((item) => ({
        seq: Number(item.dataset.seq),
        role: item.dataset.role,
        hidden: item.dataset.hidden === "true",
        badge: item.querySelector(".badge") && item.querySelector(".badge").textContent,
        author: item.querySelector(".author").textContent,
        time: item.querySelector("time") && item.querySelector("time").textContent,
        datetime: item.querySelector("time") && item.querySelector("time").getAttribute("datetime"),
        text: item.querySelector(".message-text").textContent,
      })),
    );
  }

  async waitForMessageCount(count) {
    await this.page.waitForFunction((n) => document.querySelectorAll("#messages > li").length >= n, count);
  }

  async waitForMessage(text) {
    await this.page.locator("#messages > li .message-text", { hasText: text }).first().waitFor();
  }

  /** Wait until the element is shown and its text contains `text`. */
  async waitForText(selector, text) {
    try {
      await this.page.waitForFunction(
        ([sel, expected]) => {
          const element = document.querySelector(sel);
          return Boolean(element && element.checkVisibility() && element.textContent.includes(expected));
        },
        [selector, text],
      );
    } catch (error) {
      const actual = await this.page.locator(selector).first().textContent().catch(() => "(missing)");
      throw new Error(`${this.username}: ${selector} never said ${JSON.stringify(text)}; it says ${JSON.stringify(actual)}\n${error.message}`);
    }
  }

  async text(selector) {
    return (await this.page.locator(selector).first().textContent()) || "";
  }

  /**
   * Record the channel joins this page sends from now on, over WebSocket or LongPoll, as
   * their topics: `joins.topics` (a list that grows), `joins.next(predicate)` (the first
   * one recorded, or the next one sent, whose topic matches).
   */
  recordJoins() {
    const topics = [];
    const waiters = [];
    const sent = (text) => {
      // A WebSocket frame is one message; a LongPoll POST a batch of them, a line each.
      for (const line of String(text || "").split("\n")) {
        let frame;
        try {
          frame = JSON.parse(line);
        } catch {
          continue;
        }
        if (!Array.isArray(frame) || frame[3] !== "phx_join") continue;
        topics.push(frame[2]);
        for (const waiter of [...waiters]) waiter(frame[2]);
      }
    };
    this.page.on("websocket", (socket) => socket.on("framesent", ({ payload }) => sent(payload)));
    this.page.on("request", (request) => {
      if (request.method() === "POST" && request.url().includes("/socket/longpoll")) sent(request.postData());
    });
    return {
      topics,
      next(matches) {
        const seen = topics.find(matches);
        if (seen) return Promise.resolve(seen);
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no such channel join was sent; sent: ${JSON.stringify(topics)}`)), WAIT_MS);
          const waiter = (topic) => {
            if (!matches(topic)) return;
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(waiter), 1);
            resolve(topic);
          };
          waiters.push(waiter);
        });
      },
    };
  }

  async screenshot(name) {
    await this.page.screenshot({ path: screenshotPath(name) });
  }

  /** No script error and no dialog, ever: checked at the end of every scenario. */
  assertClean() {
    assert.deepEqual(this.pageErrors, [], `${this.username}: script errors`);
    assert.deepEqual(this.dialogs, [], `${this.username}: dialogs opened`);
  }
}

/** The holder of a ticket for the event: signed up in the page, joined, in the room. */
export async function holderInRoom(browser, event, options = {}) {
  const person = await Person.open(browser, options);
  await person.signUp();
  const ticket = await createTicket(event.id);
  await person.joinFromList(event.name, ticket);
  await person.waitJoined();
  return person;
}

// ------------------------------------------------------------------------ the network

/**
 * A TCP proxy to the service for one browser context: the context opens the page through it,
 * so everything it sends goes through here. `cut()` resets every connection and refuses new
 * ones (as a dropped network does), `restore()` lets them through again. `muffle()` keeps the
 * connections open but drops whatever the service sends back (requests arrive, answers never
 * do) until the next cut. With `refuseWebSockets`, WebSocket handshakes get a 403, as from a
 * proxy that does not allow them.
 */
export async function startProxy({ refuseWebSockets = false } = {}) {
  const target = new URL(BASE_URL);
  const connections = new Set();
  let down = false;
  let muffled = false;
  const server = net.createServer((client) => {
    if (down) {
      client.resetAndDestroy();
      return;
    }
    connections.add(client);
    client.on("close", () => connections.delete(client));
    client.on("error", () => {});
    client.once("data", (first) => {
      client.pause();
      if (refuseWebSockets && first.toString("latin1").startsWith("GET /socket/websocket")) {
        client.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
      }
      const upstream = net.connect(Number(target.port), target.hostname);
      connections.add(upstream);
      upstream.on("close", () => {
        connections.delete(upstream);
        client.destroy();
      });
      upstream.on("error", () => client.destroy());
      client.on("close", () => upstream.destroy());
      upstream.write(first);
      client.pipe(upstream);
      upstream.on("data", (chunk) => {
        if (!muffled) client.write(chunk);
      });
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    cut() {
      down = true;
      muffled = false;
      for (const socket of connections) socket.resetAndDestroy();
      connections.clear();
    },
    muffle() {
      muffled = true;
    },
    restore() {
      down = false;
    },
    async close() {
      this.cut();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// ------------------------------------------------------------------------------ bots

/** A ticket holder posting from Node over phoenix.js (LongPoll, which needs only fetch). */
export async function botInRoom(event) {
  const user = await signUpOverRest(unique("bot"));
  const ticket = await createTicket(event.id);
  const socket = new Socket(`${BASE_URL.replace(/^http/, "ws")}/socket`, { transport: LongPoll, authToken: user.token });
  socket.connect();
  const channel = socket.channel(`event:${event.id}`, { ticket_number: ticket });
  await new Promise((resolve, reject) =>
    channel
      .join()
      .receive("ok", resolve)
      .receive("error", (reply) => reject(new Error(`bot join refused: ${JSON.stringify(reply)}`)))
      .receive("timeout", () => reject(new Error("bot join timed out"))),
  );
  return {
    user: user.user,
    /** Leave the room, keeping the socket: the leave goes out with LongPoll's next batch
     * (a socket closed now would take it along, and the service would see the bot go only
     * when its poll times out). phoenix.js answers a leave itself: wait on the room. */
    leave() {
      channel.leave();
    },
    post(content) {
      return new Promise((resolve, reject) =>
        channel
          .push("new_message", { content })
          .receive("ok", (reply) => resolve(reply.message))
          .receive("error", (reply) => reject(new Error(`post refused: ${JSON.stringify(reply)}`)))
          .receive("timeout", () => reject(new Error("post timed out"))),
      );
    },
    close() {
      socket.disconnect();
    },
  };
}

// --------------------------------------------------------------------------- running

/**
 * Run a scenario with the browser, closing every context it opened and running its deferred
 * cleanups afterwards, pass or fail. Scenarios open contexts only through `browser.newContext`.
 */
export async function runScenario(scenario, browser) {
  const contexts = [];
  const cleanups = [];
  const tracked = {
    async newContext(options) {
      const context = await browser.newContext(options);
      contexts.push(context);
      return context;
    },
  };
  try {
    await scenario({ browser: tracked, defer: (fn) => cleanups.push(fn) });
  } finally {
    for (const fn of cleanups.reverse()) await Promise.resolve().then(fn).catch(() => {});
    for (const context of contexts) await context.close().catch(() => {});
  }
}

export { assert };

