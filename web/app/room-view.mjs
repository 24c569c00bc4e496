// The room on the page: header and status, joining, messages, participants, typing, composer.
// It drives a RoomSession (room.mjs) and is its `view`.

import { api, ApiError } from "./api.mjs";
import { byId, fill, h, show } from "./dom.mjs";
import { RoomSession } from "./room.mjs";
import {
  eventTime,
  fullTime,
  messageTime,
  parseServerTime,
  reasonSentence,
  refusalSentence,
  roomOpensAt,
  typingSentence,
} from "./words.mjs";

/** Join refusals that another ticket number (or another try) can fix. */
const TICKET_REASONS = new Set(["ticket required", "invalid ticket", "ticket already used", "too many attempts"]);
/** Within this many pixels of the bottom, new messages keep the view at the bottom. */
const STICKY_BOTTOM_PX = 80;

export class RoomView {
  constructor({ phoenix, getLive, getSession, onUnauthorized }) {
    this.phoenix = phoenix;
    this.getLive = getLive;
    this.getSession = getSession;
    this.onUnauthorized = onUnauthorized;
    this.session = null;
    this.event = null;
    this.eventId = null;
    this.roomStatus = null;
    this.historyEdge = { hasOlder: false, loading: false };

    this.el = {
      title: byId("room-title"),
      meta: byId("room-meta"),
      status: byId("room-status"),
      join: byId("room-join"),
      joinMessage: byId("join-message"),
      joinForm: byId("join-form"),
      joinTicket: byId("join-ticket"),
      body: byId("room-body"),
      scroller: byId("message-scroller"),
      messages: byId("messages"),
      noMessages: byId("no-messages"),
      pending: byId("pending"),
      loadOlder: byId("load-older"),
      historyStart: byId("history-start"),
      historyLoading: byId("history-loading"),
      typing: byId("typing"),
      participants: byId("participants"),
      participantCount: byId("participant-count"),
      composer: byId("composer"),
      input: byId("composer-input"),
      send: byId("composer-send"),
      hint: byId("composer-hint"),
      error: byId("composer-error"),
      announcer: byId("announcer"),
    };
    this.wire();
  }

  wire() {
    const { el } = this;
    el.composer.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    el.input.addEventListener("keydown", (e) => {
      // Enter sends; Shift+Enter is a new line; Enter that ends an IME composition is not a send.
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
        e.preventDefault();
        el.composer.requestSubmit();
      }
    });
    el.input.addEventListener("input", () => {
      if (this.session) this.session.typingActivity();
    });
    el.loadOlder.addEventListener("click", () => this.session && this.session.loadOlder());
    el.scroller.addEventListener("scroll", () => {
      if (el.scroller.scrollTop < 40 && this.session && this.isScrollable()) this.session.loadOlder();
    });
    el.joinForm.addEventListener("submit", (e) => {
      e.preventDefault();
      const ticket = el.joinTicket.value.trim();
      if (ticket && this.eventId) this.open(this.eventId, ticket);
    });
  }

  // ------------------------------------------------------------------------ lifecycle

  async open(eventId, ticketNumber) {
    this.close();
    this.eventId = eventId;
    this.event = null;
    this.roomStatus = null;
    const { el } = this;
    fill(el.title, "Event chat");
    fill(el.meta);
    fill(el.status);
    el.status.dataset.status = "unknown";
    fill(el.messages);
    this.historyState({ hasOlder: false, loading: false });
    fill(el.pending);
    fill(el.participants);
    fill(el.participantCount);
    fill(el.typing);
    fill(el.error);
    show(el.body, false);
    this.showJoin("Joining the chat…", { form: false });

    const session = this.getSession();
    try {
      this.event = await api(`/api/events/${eventId}`, {
        token: session.token,
        onUnauthorized: this.onUnauthorized,
      });
    } catch (error) {
      if (this.eventId !== eventId) return;
      const gone = error instanceof ApiError && error.status === 404;
      this.showJoin(gone ? reasonSentence("event not found") : error.message, { form: false });
      return;
    }
    const live = this.getLive();
    if (this.eventId !== eventId || !live) return; // navigated elsewhere, or signed out, meanwhile
    this.showEvent(this.event);
    this.session = new RoomSession({
      socket: live.socket,
      Presence: this.phoenix.Presence,
      eventId,
      user: session.user,
      ticketNumber,
      view: this,
    });
    this.session.join();
  }

  close() {
    if (this.session) this.session.leave();
    this.session = null;
    this.eventId = null;
    document.title = "Ticket chat";
  }

  showEvent(event) {
    fill(this.el.title, event.name);
    document.title = `${event.name} · Ticket chat`;
    const start = parseServerTime(event.start_time);
    fill(
      this.el.meta,
      start ? h("time", { datetime: start.toISOString(), title: fullTime(start) }, eventTime(start)) : "",
      ` · ${event.location}`,
    );
  }

  showJoin(message, { form }) {
    show(this.el.join, true);
    fill(this.el.joinMessage, message);
    show(this.el.joinForm, form);
  }

  // -------------------------------------------------------------- RoomSession's view

  joining({ rejoin, slow }) {
    if (!rejoin) {
      this.showJoin(slow ? "Still joining: waiting for the connection…" : "Joining the chat…", { form: false });
    }
  }

  joined({ first }) {
    show(this.el.join, false);
    show(this.el.body, true);
    if (first) {
      this.el.joinTicket.value = "";
      // Keyboard users land in the composer; in a closed room the focus stays on the title.
      if (this.roomStatus === "active") this.el.input.focus();
    }
  }

  refused(reply) {
    const retry = TICKET_REASONS.has(reply.reason);
    show(this.el.body, false);
    this.showJoin(refusalSentence(reply), { form: retry });
    if (retry) this.el.joinTicket.focus();
    this.session = null;
  }

  closed() {
    // The server closed the room's channel: its event was deleted.
    this.status("deleted");
  }

  messagesAdded(messages, { first = false, older = false }) {
    if (messages.length === 0) return;
    const { scroller } = this.el;
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    const atBottom = fromBottom - scroller.clientHeight < STICKY_BOTTOM_PX;
    const me = this.getSession().user;
    let mineAdded = false;
    for (const message of messages) {
      this.insert(messageItem(message, me), message.seq);
      if (message.user_id === me.id) mineAdded = true;
    }
    this.renderHistoryEdge();
    if (older) {
      scroller.scrollTop = scroller.scrollHeight - fromBottom; // keep what was in view in view
    } else if (first || atBottom || mineAdded) {
      scroller.scrollTop = scroller.scrollHeight;
    }
    if (!first && !older) {
      const fromOthers = messages.filter((m) => m.user_id !== me.id);
      if (fromOthers.length === 1) {
        fill(this.el.announcer, `${fromOthers[0].username}: ${fromOthers[0].content}`);
      } else if (fromOthers.length > 1) {
        fill(this.el.announcer, `${fromOthers.length} new messages`);
      }
    }
  }

  insert(item, seq) {
    let next = null;
    for (let node = this.el.messages.lastElementChild; node; node = node.previousElementSibling) {
      if (Number(node.dataset.seq) < seq) break;
      next = node;
    }
    this.el.messages.insertBefore(item, next);
  }

  status(status) {
    this.roomStatus = status;
    const { el } = this;
    el.status.dataset.status = status;
    const opens = this.event ? roomOpensAt(this.event) : null;
    const opensAt = () =>
      opens
        ? h("time", { datetime: opens.toISOString(), title: fullTime(opens) }, eventTime(opens))
        : "two hours before the event";
    const lines = {
      inactive: [h("strong", {}, "Not open yet"), " · opens ", opensAt()],
      active: [h("strong", {}, "Open"), " · everyone here sees your messages"],
      archived: [h("strong", {}, "Archived"), " · the event is over; the chat is read-only"],
      deleted: [h("strong", {}, "Cancelled"), " · this event was cancelled"],
    };
    const hints = {
      active: ["Enter sends, Shift+Enter starts a new line."],
      inactive: ["You can write here once the chat opens (", opensAt(), ")."],
      archived: ["This chat is archived: you can read it, but no longer write."],
      deleted: ["This event was cancelled."],
    };
    fill(el.status, "Chat: ", ...(lines[status] || [status]));
    fill(el.hint, ...(hints[status] || ["The chat is closed."]));
    const open = status === "active";
    el.input.disabled = !open;
    el.send.disabled = !open;
    if (!open) fill(el.typing);
  }

  participants(people) {
    fill(this.el.participantCount, `(${people.length})`);
    fill(
      this.el.participants,
      people.map((person) =>
        h("li", { class: person.me ? "me" : null }, person.username, person.me ? " (you)" : ""),
      ),
    );
  }

  typing(names) {
    fill(this.el.typing, typingSentence(names));
  }

  pendingChanged(items) {
    fill(this.el.pending, items.map((item) => this.pendingItem(item)));
    if (items.length) this.el.scroller.scrollTop = this.el.scroller.scrollHeight;
  }

  pendingItem(item) {
    const sending = item.state === "sending";
    const meta = h(
      "p",
      { class: "message-meta" },
      h("span", { class: "author" }, "You"),
      " ",
      h("span", { class: "pending-state" }, sending ? "Sending…" : "Not sent: no answer from the server."),
    );
    if (!sending) {
      const retry = h("button", { type: "button", class: "link-button" }, "Send again");
      retry.addEventListener("click", () => this.session && this.session.retry(item.clientId));
      const discard = h("button", { type: "button", class: "link-button" }, "Discard");
      discard.addEventListener("click", () => this.session && this.session.discard(item.clientId));
      meta.append(" ", retry, " ", discard);
    }
    return h(
      "li",
      { class: "message mine pending", dataset: { clientId: item.clientId, state: item.state } },
      meta,
      h("p", { class: "message-text" }, item.content),
    );
  }

  sendRefused(reason, content) {
    fill(this.el.error, reasonSentence(reason));
    // Nothing typed is lost: a refused message goes back into an empty composer.
    if (!this.el.input.value) this.el.input.value = content;
  }

  historyState(state) {
    this.historyEdge = state;
    this.renderHistoryEdge();
  }

  renderHistoryEdge() {
    const { hasOlder, loading } = this.historyEdge;
    const empty = this.el.messages.childElementCount === 0;
    show(this.el.loadOlder, hasOlder && !loading);
    show(this.el.historyLoading, loading);
    show(this.el.historyStart, !hasOlder && !loading && !empty);
    show(this.el.noMessages, empty);
  }

  historyFailed(reason) {
    fill(this.el.error, reason === "timeout" ? "Earlier messages could not be loaded: no answer from the server." : reasonSentence(reason));
  }

  // --------------------------------------------------------------------------- composer

  submit() {
    const { el } = this;
    const content = el.input.value;
    if (!this.session) return;
    if (!content.trim()) {
      fill(el.error, reasonSentence("empty message"));
      return;
    }
    if (this.roomStatus !== "active") {
      fill(el.error, reasonSentence("room not active"));
      return;
    }
    fill(el.error);
    el.input.value = "";
    this.session.send(content);
  }

  isScrollable() {
    return this.el.scroller.scrollHeight > this.el.scroller.clientHeight;
  }
}

function messageItem(message, me) {
  const date = parseServerTime(message.inserted_at);
  const mine = message.user_id === me.id;
  return h(
    "li",
    { class: mine ? "message mine" : "message", dataset: { seq: message.seq } },
    h(
      "p",
      { class: "message-meta" },
      h("span", { class: "author" }, mine ? "You" : message.username),
      " ",
      date ? h("time", { datetime: date.toISOString(), title: fullTime(date) }, messageTime(date)) : null,
    ),
    h("p", { class: "message-text" }, message.content),
  );
}
