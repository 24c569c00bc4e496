// One event's chat room over a phoenix.js channel, without any DOM: the room view (view.mjs)
// is told what changed through the `view` object's methods.
//
// Losing nothing, showing nothing twice:
// * the channel's join params are a function, so every rejoin after a cut asks for what came
//   after the newest message seen (`after_seq`); the first join carries the ticket number;
// * messages are kept by `seq` (see timeline.mjs), so whatever arrives twice is shown once,
//   and a hole — a rejoin reply that says `more` because it holds only the newest messages,
//   or a broadcast lost in between — is filled with `history` requests;
// * a message is sent with a `client_id` made here, and a send that got no answer is sent
//   again with the same one after the rejoin: the server stores it at most once.
//
// The organisers' moderation as this member meets it: announcements are messages like the
// others (`author_role: "organiser"`); a hidden message keeps its place without its content
// (`message_hidden`, and a join reply's `hidden_seqs` for messages kept from before a cut);
// a mute (`muted`, `unmuted`, the join reply's `muted_until`) and the slow mode (`slow_mode`,
// the join reply's `room.slow_mode_seconds`) are shown, while the server, which decides,
// refuses the posts; a removal (`removed`, then the server closes the channel) ends the room
// with no rejoin (until the organisers reinstate the member, whose notification offers to join
// again: a new session).
//
// Presence: up to a size the room lists everyone (phoenix.js's Presence); past it the server
// switches the room to count mode (`presence_mode`): Presence then holds only this member's
// own entries, and `presence_count` (and the join reply's `online`) says how many are in.

import { Timeline } from "./timeline.mjs";
import { parseServerTime } from "./words.mjs";

export const HISTORY_PAGE = 100;
const SEND_TIMEOUT_MS = 10_000;
/** While typing, "typing: true" is repeated this often, and shown this long by the others. */
const TYPING_REFRESH_MS = 2_500;
const TYPING_SHOWN_MS = 6_000;
/** No key pressed for this long: "typing: false". */
const TYPING_IDLE_MS = 3_000;
/** The server passes one "typing: true" per user per second; one sent sooner would be lost. */
const TYPING_THROTTLE_MS = 1_100;
/** setTimeout's longest delay; a mute that ends later is looked at again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What a room that was left reports to: nothing. */
const SILENT_VIEW = new Proxy({}, { get: () => () => {} });

export class RoomError extends Error {
  constructor(reason) {
    super(reason);
    this.reason = reason;
  }
}

export class RoomSession {
  constructor({ socket, Presence, eventId, user, ticketNumber, view }) {
    this.eventId = eventId;
    this.user = user;
    this.view = view;
    this.ticketNumber = ticketNumber || null;
    this.timeline = new Timeline();
    /** Messages sent and not yet confirmed: clientId → {clientId, content, state}. */
    this.pending = new Map();
    /** Who else is typing: userId → {username, timer}. */
    this.typers = new Map();
    this.joinedOnce = false;
    this.status = null;
    this.ended = false;
    this.filling = false;
    this.loadingOlder = false;
    /** Typing: whether the user is, when "true" was last sent, and whether the others were
     * told (and so need a "false"). */
    this.typing = false;
    this.typingSentAt = null;
    this.typingAnnounced = false;
    this.idleTimer = null;
    this.typingTimer = null;
    /** The organisers' rules as they apply to this member: muted until (a Date), slow mode. */
    this.mutedUntil = null;
    this.muteTimer = null;
    this.slowModeSeconds = 0;
    /** Presence: "list" (everyone's entries) or "count" (own entries, and `online`). */
    this.presenceMode = "list";
    this.online = null;
    /** Whether Presence holds the room's list (false from a join until its presence_state). */
    this.presenceSynced = false;

    this.channel = socket.channel(`event:${eventId}`, () => this.joinParams());
    this.presence = new Presence(this.channel);
    this.presence.onSync(() => {
      this.presenceSynced = true;
      this.presenceChanged();
    });
    this.channel.on("new_message", (message) => this.received([message]));
    this.channel.on("typing", (payload) => this.someoneTyping(payload));
    this.channel.on("room_status", (payload) => this.setStatus(payload && payload.status));
    this.channel.on("message_hidden", (payload) => this.hide([payload && payload.seq]));
    this.channel.on("muted", (payload) => this.setMuted(payload && payload.until));
    this.channel.on("unmuted", () => this.setMuted(null));
    this.channel.on("slow_mode", (payload) => this.setSlowMode(payload && payload.seconds));
    this.channel.on("removed", (payload) => this.wasRemoved(payload && payload.reason));
    this.channel.on("presence_mode", (payload) => this.setPresenceMode(payload && payload.mode));
    this.channel.on("presence_count", (payload) => this.setOnline(payload && payload.online));
    // The socket dropped (or the channel crashed): phoenix.js rejoins by itself.
    this.channel.onError(() => {
      if (!this.ended) this.view.joining({ rejoin: this.joinedOnce });
    });
    // Closed by the server (the event was deleted, or after `removed`) or by leave().
    this.channel.onClose(() => {
      if (this.ended) return;
      this.end();
      this.view.closed();
    });
  }

  // ------------------------------------------------------------------------- joining

  join() {
    this.view.joining({ rejoin: false });
    this.channel
      .join()
      .receive("ok", (reply) => this.joined(reply || {}))
      .receive("error", (reply) => this.refused(reply || {}))
      .receive("timeout", () => this.view.joining({ rejoin: this.joinedOnce, slow: true }));
  }

  joinParams() {
    if (this.joinedOnce) return { after_seq: this.timeline.lastSeen };
    return this.ticketNumber ? { ticket_number: this.ticketNumber } : {};
  }

  joined({ room = {}, messages = [], hidden_seqs: hiddenSeqs, muted_until: mutedUntil = null, online, presence }) {
    const first = !this.joinedOnce;
    this.joinedOnce = true;
    this.ticketNumber = null; // the ticket is ours now: rejoins go without it
    let added;
    if (first) {
      added = this.timeline.start(messages, room.last_seq || 0);
    } else {
      added = this.timeline.add(messages);
      this.timeline.expectUpTo(room.last_seq);
    }
    this.setStatus(room.status);
    this.view.joined({ first });
    this.view.messagesAdded(added, { first });
    // Hidden while this page was away: the messages it kept from before lose their content.
    if (Array.isArray(hiddenSeqs)) this.hide(hiddenSeqs);
    this.setSlowMode(room.slow_mode_seconds);
    this.setMuted(mutedUntil);
    // A presence_state follows the reply; until then the reply's count is what is known.
    this.presenceSynced = false;
    this.presenceMode = presence === "count" ? "count" : "list";
    this.setOnline(online);
    this.historyChanged();
    this.fillGaps();
    this.resendUnanswered();
  }

  /** `reply`: the error reply, `{reason, ...}`. */
  refused(reply) {
    // phoenix.js would retry a refused join forever: stop here, and say why.
    this.end();
    this.channel.leave();
    const view = this.view;
    this.view = SILENT_VIEW;
    view.refused(reply);
  }

  /** The page leaves the room (navigation, sign out): replies still on their way go nowhere. */
  leave() {
    if (!this.ended) {
      this.end();
      this.channel.leave();
    }
    this.view = SILENT_VIEW;
    for (const typer of this.typers.values()) clearTimeout(typer.timer);
    this.typers.clear();
  }

  /** No more of this room: no typing, no timers, and no rejoin by this session. */
  end() {
    this.ended = true;
    this.stopTyping();
    clearTimeout(this.muteTimer);
  }

  /** The organisers removed this member: `removed`, then the server closes the channel
   * (phx_close, after which phoenix.js does not rejoin). Were the socket cut before the close,
   * the rejoin would be refused ("removed") and end there (refused()). */
  wasRemoved(reason) {
    if (this.ended) return;
    this.end();
    const view = this.view;
    this.view = SILENT_VIEW;
    view.removed(typeof reason === "string" ? reason : null);
  }

  get isJoined() {
    return !this.ended && this.channel.state === "joined";
  }

  // ------------------------------------------------------------------------ messages

  /** The organisers hid these seqs. */
  hide(seqs) {
    const changed = this.timeline.hide(seqs);
    if (changed.length) this.view.messagesHidden(changed);
  }

  received(messages) {
    const added = this.timeline.add(messages);
    if (added.length === 0) return;
    for (const message of added) this.dropTyper(message.user_id);
    this.view.messagesAdded(added, {});
    this.fillGaps();
  }

  /** Fetch what is missing between the oldest message shown and the newest one known. */
  async fillGaps() {
    if (this.filling) return;
    this.filling = true;
    try {
      let missing;
      while ((missing = this.timeline.newestMissing()) !== null && this.isJoined) {
        const batch = await this.history(missing + 1);
        this.received(batch);
        if (!batch.some((message) => message.seq === missing)) break; // not there: give up
      }
    } catch {
      // Cut again: the next join starts over.
    } finally {
      this.filling = false;
    }
  }

  /** Scroll back: the page of messages before the oldest one shown. */
  async loadOlder() {
    if (this.loadingOlder || !this.timeline.hasOlder || !this.isJoined) return;
    this.loadingOlder = true;
    this.historyChanged();
    try {
      const batch = await this.history(this.timeline.floor);
      if (batch.length === 0) this.timeline.reachedStart();
      const added = this.timeline.add(batch);
      this.view.messagesAdded(added, { older: true });
    } catch (error) {
      this.view.historyFailed(error.reason);
    } finally {
      this.loadingOlder = false;
      this.historyChanged();
    }
  }

  history(before) {
    return new Promise((resolve, reject) => {
      this.channel
        .push("history", { before, limit: HISTORY_PAGE })
        .receive("ok", (reply) => resolve((reply && reply.messages) || []))
        .receive("error", (reply) => reject(new RoomError(reply && reply.reason)))
        .receive("timeout", () => reject(new RoomError("timeout")));
    });
  }

  historyChanged() {
    this.view.historyState({ hasOlder: this.timeline.hasOlder, loading: this.loadingOlder });
  }

  // --------------------------------------------------------------------------- sending

  send(content) {
    const item = { clientId: newClientId(), content, state: "sending" };
    this.pending.set(item.clientId, item);
    this.stopTyping({ sent: true });
    this.pushMessage(item);
  }

  retry(clientId) {
    const item = this.pending.get(clientId);
    if (item) this.pushMessage(item);
  }

  discard(clientId) {
    this.pending.delete(clientId);
    this.view.pendingChanged([...this.pending.values()]);
  }

  pushMessage(item) {
    item.state = "sending";
    this.view.pendingChanged([...this.pending.values()]);
    // While the channel is rejoining phoenix.js holds the push and sends it after the join.
    this.channel
      .push("new_message", { content: item.content, client_id: item.clientId }, SEND_TIMEOUT_MS)
      .receive("ok", (reply) => {
        if (!this.pending.delete(item.clientId)) return;
        this.view.pendingChanged([...this.pending.values()]);
        if (reply && reply.message) this.received([reply.message]);
      })
      .receive("error", (reply) => {
        if (!this.pending.delete(item.clientId)) return;
        this.view.pendingChanged([...this.pending.values()]);
        // Muted on another node, or the push was missed: the refusal says until when.
        if (reply && reply.reason === "muted") this.setMuted(reply.until);
        this.view.sendRefused(reply || {}, item.content);
      })
      .receive("timeout", () => {
        if (!this.pending.has(item.clientId)) return;
        item.state = "unanswered";
        this.view.pendingChanged([...this.pending.values()]);
      });
  }

  /** After a (re)join: sends that got no answer go again, with their client_id. */
  resendUnanswered() {
    for (const item of this.pending.values()) {
      if (item.state === "unanswered") this.pushMessage(item);
    }
  }

  // ---------------------------------------------------------------------------- typing

  /** The user pressed a key in the composer. */
  typingActivity() {
    // A muted member's typing would promise the others a message that cannot come.
    if (!this.isJoined || this.status !== "active" || this.mutedUntil) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
    if (!this.typing) {
      this.typing = true;
      this.sayTyping();
    } else if (this.typingSentAt !== null && Date.now() - this.typingSentAt > TYPING_REFRESH_MS) {
      this.sayTyping();
    }
  }

  /** "typing: true" now, or as soon as the server's throttle lets it through. */
  sayTyping() {
    clearTimeout(this.typingTimer);
    const wait = this.typingSentAt === null ? 0 : this.typingSentAt + TYPING_THROTTLE_MS - Date.now();
    if (wait > 0) {
      this.typingTimer = setTimeout(() => this.sayTyping(), wait);
      return;
    }
    if (!this.typing || !this.isJoined) return;
    this.typingSentAt = Date.now();
    this.typingAnnounced = true;
    this.channel.push("typing", { typing: true });
  }

  /** Stopped typing (idle, sent, or left). Sending a message needs no "typing: false": the
   * others stop showing the author as typing when the message arrives. */
  stopTyping({ sent = false } = {}) {
    clearTimeout(this.idleTimer);
    clearTimeout(this.typingTimer);
    this.typing = false;
    if (!this.typingAnnounced) return;
    this.typingAnnounced = false;
    if (!sent && this.isJoined) this.channel.push("typing", { typing: false });
  }

  someoneTyping(payload) {
    if (!payload || payload.user_id === this.user.id) return;
    this.dropTyper(payload.user_id, { quiet: true });
    if (payload.typing) {
      const timer = setTimeout(() => this.dropTyper(payload.user_id), TYPING_SHOWN_MS);
      this.typers.set(payload.user_id, { username: String(payload.username || "Someone"), timer });
    }
    this.typingChanged();
  }

  dropTyper(userId, { quiet = false } = {}) {
    const typer = this.typers.get(userId);
    if (!typer) return;
    clearTimeout(typer.timer);
    this.typers.delete(userId);
    if (!quiet) this.typingChanged();
  }

  typingChanged() {
    this.view.typing([...this.typers.values()].map((typer) => typer.username));
  }

  // ------------------------------------------------------------------- presence, status

  presenceChanged() {
    if (this.presenceMode === "count") {
      // Presence holds only this member's own entries (or, for a moment, the old list).
      const me = { id: this.user.id, username: String(this.user.username || "You"), me: true };
      this.view.participants({ people: [me], online: this.online, counting: true });
      return;
    }
    const people = this.presence.list((id, { metas }) => ({
      id,
      username: String((metas[0] && metas[0].username) || "Someone"),
      me: id === this.user.id,
    }));
    people.sort((a, b) => Number(b.me) - Number(a.me) || a.username.localeCompare(b.username));
    if (this.presenceSynced) {
      const online = new Set(people.map((person) => person.id));
      for (const id of [...this.typers.keys()]) if (!online.has(id)) this.dropTyper(id);
      this.online = people.length;
    }
    this.view.participants({ people, online: this.online, counting: false });
  }

  /** `presence_mode`: the room switched between listing its members and counting them (or,
   * right after a join, is not in the mode the join reply said). The server sends the mode's
   * presence_state right after it, and counts only in count mode, after both. */
  setPresenceMode(mode) {
    if ((mode !== "list" && mode !== "count") || mode === this.presenceMode) return;
    this.presenceMode = mode;
    // Counting: this member and the others, by the last count until a presence_count comes.
    // Listing: Presence still holds this member alone until the state; its onSync shows it.
    if (mode === "count") this.presenceChanged();
  }

  /** How many members are in the room (the join reply's `online`, `presence_count`). Once
   * Presence lists the room, the list is the count. */
  setOnline(online) {
    if (!Number.isInteger(online) || online < 0) return;
    this.online = online;
    if (this.presenceMode === "count" || !this.presenceSynced) this.presenceChanged();
  }

  // ------------------------------------------------------------- the organisers' rules

  /** Muted until `until` (the server's time), or not muted (null, or a time gone by). */
  setMuted(until) {
    clearTimeout(this.muteTimer);
    const date = parseServerTime(until);
    // The server rounds a mute's end up to the second: at `until` the member may post.
    const left = date ? date.getTime() - Date.now() : 0;
    const was = this.mutedUntil;
    this.mutedUntil = left > 0 ? date : null;
    if (this.mutedUntil) {
      this.stopTyping();
      // Ended by the clock (the server sends `unmuted` only when an organiser lifts it).
      this.muteTimer = setTimeout(() => this.setMuted(until), Math.min(left, MAX_TIMER_MS));
    }
    if (was || this.mutedUntil) {
      this.view.muted(this.mutedUntil, { ended: Boolean(was) && !this.mutedUntil });
    }
  }

  setSlowMode(seconds) {
    if (!Number.isInteger(seconds) || seconds < 0 || seconds === this.slowModeSeconds) return;
    this.slowModeSeconds = seconds;
    this.view.slowMode(seconds);
  }

  setStatus(status) {
    if (typeof status !== "string" || status === this.status) return;
    this.status = status;
    if (status !== "active") this.stopTyping();
    this.view.status(status);
  }
}

/** A random UUID; crypto.randomUUID needs a secure context, which plain http:// on a LAN
 * address is not. */
export function newClientId() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
