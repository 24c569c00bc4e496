// The room on the page: header and status, joining, messages, participants, typing, composer,
// the organisers' rules, and "Who's here". It drives a RoomSession (room.mjs) and is its
// `view`.

import { api, ApiError } from "./api.mjs";
import { byId, fill, h, show } from "./dom.mjs";
import { PARTICIPANTS_PAGE, ParticipantPages } from "./participants.mjs";
import { RoomSession } from "./room.mjs";
import {
  HIDDEN_MESSAGE,
  ORGANISER_BADGE,
  REINSTATED,
  UNMUTED,
  eventTime,
  fullTime,
  messageAnnouncement,
  messageTime,
  mutedPlaceholder,
  mutedSentence,
  othersWords,
  parseServerTime,
  peopleWords,
  postRefusalSentence,
  reasonSentence,
  refusalSentence,
  removedSentence,
  roomOpensAt,
  slowModeSentence,
  typingSentence,
} from "./words.mjs";

/** Join refusals that another ticket number (or another try) can fix. */
const TICKET_REASONS = new Set(["ticket required", "invalid ticket", "ticket already used", "too many attempts"]);
/** Within this many pixels of the bottom, new messages keep the view at the bottom. */
const STICKY_BOTTOM_PX = 80;
const COMPOSER_PLACEHOLDER = "Write a message";

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
    /** The organisers' rules for this member, as last told: muted until (a Date), slow mode. */
    this.rules = { mutedUntil: null, slowModeSeconds: 0 };
    /** "Who's here", while its dialog is open. */
    this.people = null;
    /** The seq of the message the live region last read out, if one. */
    this.announcedSeq = null;
    /** The room says the organisers removed this user (refused or closed). */
    this.removedShown = false;

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
      peopleOpen: byId("people-open"),
      peopleDialog: byId("people-dialog"),
      peopleClose: byId("people-close"),
      peopleSummary: byId("people-summary"),
      peopleError: byId("people-error"),
      peopleList: byId("people-list"),
      peopleMore: byId("people-more"),
      peopleLoading: byId("people-loading"),
      composer: byId("composer"),
      input: byId("composer-input"),
      send: byId("composer-send"),
      hint: byId("composer-hint"),
      rules: byId("composer-rules"),
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
    el.peopleOpen.addEventListener("click", () => this.openPeople());
    el.peopleClose.addEventListener("click", () => el.peopleDialog.close());
    el.peopleMore.addEventListener("click", () => this.morePeople({ focusNew: true }));
    // Escape closes a modal dialog by itself; so does this.
    el.peopleDialog.addEventListener("close", () => {
      this.people = null;
    });
  }

  // ------------------------------------------------------------------------ lifecycle

  async open(eventId, ticketNumber) {
    this.close();
    this.eventId = eventId;
    this.removedShown = false;
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
    fill(el.announcer);
    this.announcedSeq = null;
    this.closePeople();
    this.rules = { mutedUntil: null, slowModeSeconds: 0 };
    this.renderRules();
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
    this.closePeople();
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
    this.removedShown = reply.reason === "removed";
  }

  closed() {
    // The server closed the room's channel: its event was deleted.
    this.status("deleted");
  }

  removed(reason) {
    // The organisers removed this member: the room is closed to them, history included.
    this.session = null;
    this.closePeople();
    fill(this.el.status);
    show(this.el.body, false);
    fill(this.el.messages);
    fill(this.el.pending);
    this.showJoin(removedSentence(reason), { form: false });
    this.el.title.focus();
    this.removedShown = true;
  }

  /** The organisers let the user back into `eventId`'s chat: if this room is on screen saying
   * they were removed, say so instead; joining again is the user's choice. */
  reinstated(eventId) {
    if (eventId !== this.eventId || !this.removedShown) return;
    this.removedShown = false;
    this.showJoin(REINSTATED, { form: false });
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
      if (isMine(message, me)) mineAdded = true;
    }
    this.renderHistoryEdge();
    if (older) {
      scroller.scrollTop = scroller.scrollHeight - fromBottom; // keep what was in view in view
    } else if (first || atBottom || mineAdded) {
      scroller.scrollTop = scroller.scrollHeight;
    }
    if (!first && !older) {
      const fromOthers = messages.filter((m) => !isMine(m, me));
      if (fromOthers.length === 1) {
        fill(this.el.announcer, messageAnnouncement(fromOthers[0]));
        this.announcedSeq = fromOthers[0].seq;
      } else if (fromOthers.length > 1) {
        this.announcedSeq = null;
        fill(this.el.announcer, `${fromOthers.length} new messages`);
      }
    }
  }

  /** The organisers hid these messages: each is shown again, without its content. */
  messagesHidden(messages) {
    const me = this.getSession().user;
    for (const message of messages) {
      const shown = this.el.messages.querySelector(`:scope > li[data-seq="${message.seq}"]`);
      if (shown) shown.replaceWith(messageItem(message, me));
      // The live region keeps the text it read out: no hidden content stays there either.
      if (message.seq === this.announcedSeq) fill(this.el.announcer, messageAnnouncement(message));
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

  /** Who is online: everyone (`counting` false), or in a big room this member and a count. */
  participants({ people, online, counting }) {
    const { el } = this;
    fill(el.participantCount, Number.isInteger(online) ? `(${online.toLocaleString()})` : "");
    el.participants.dataset.mode = counting ? "count" : "list";
    const items = people.map((person) =>
      h("li", { class: person.me ? "me" : null }, person.username, person.me ? " (you)" : ""),
    );
    if (counting && Number.isInteger(online) && online > people.length) {
      items.push(h("li", { class: "others" }, othersWords(online - people.length)));
    }
    fill(el.participants, items);
  }

  // ------------------------------------------------------------- the organisers' rules

  muted(until, { ended = false } = {}) {
    this.rules.mutedUntil = until;
    this.renderRules();
    if (ended) {
      fill(this.el.announcer, UNMUTED);
      this.announcedSeq = null;
    }
  }

  slowMode(seconds) {
    this.rules.slowModeSeconds = seconds;
    this.renderRules();
  }

  /** Above the composer: the member's mute and the room's slow mode, in words. */
  renderRules() {
    const { el } = this;
    const { mutedUntil, slowModeSeconds } = this.rules;
    const lines = [];
    if (mutedUntil) {
      lines.push(h("p", { class: "rule", dataset: { rule: "muted" } }, mutedSentence(mutedUntil)));
    }
    if (slowModeSeconds > 0) {
      lines.push(h("p", { class: "rule", dataset: { rule: "slow-mode" } }, slowModeSentence(slowModeSeconds)));
    }
    fill(el.rules, lines);
    show(el.rules, lines.length > 0);
    el.input.placeholder = mutedUntil ? mutedPlaceholder(mutedUntil) : COMPOSER_PLACEHOLDER;
    el.composer.dataset.muted = mutedUntil ? "true" : "false";
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

  /** `reply`: the error reply, `{reason, ...}`. */
  sendRefused(reply, content) {
    fill(this.el.error, postRefusalSentence(reply));
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

  // ------------------------------------------------------------------------ who's here

  /** Everyone admitted to the room, online or not, a page at a time, in a dialog. */
  openPeople() {
    const { el } = this;
    const eventId = this.eventId;
    if (!eventId || !this.session) return;
    const session = this.getSession();
    this.people = new ParticipantPages((after) =>
      api(
        `/api/events/${eventId}/participants?limit=${PARTICIPANTS_PAGE}${after ? `&after=${encodeURIComponent(after)}` : ""}`,
        { token: session.token, onUnauthorized: this.onUnauthorized, whole: true },
      ),
    );
    fill(el.peopleSummary, "Loading who is in this chat…");
    fill(el.peopleError);
    fill(el.peopleList);
    show(el.peopleMore, false);
    if (!el.peopleDialog.open) el.peopleDialog.showModal();
    this.morePeople({ focusNew: false });
  }

  async morePeople({ focusNew }) {
    const { el } = this;
    const pages = this.people;
    if (!pages || pages.loading) return;
    show(el.peopleMore, false);
    show(el.peopleLoading, true);
    let added = [];
    try {
      added = await pages.more();
      fill(el.peopleError);
    } catch (error) {
      if (this.people === pages) fill(el.peopleError, error.message);
    }
    if (this.people !== pages) return; // closed meanwhile
    show(el.peopleLoading, false);
    const me = this.getSession().user;
    const items = added.map((person) => personItem(person, me));
    el.peopleList.append(...items);
    if (pages.total !== null) {
      fill(
        el.peopleSummary,
        `${peopleWords(pages.total)} ${pages.total === 1 ? "has" : "have"} joined this chat; ${(pages.onlineCount || 0).toLocaleString()} online now.`,
      );
    }
    show(el.peopleMore, pages.hasMore);
    // Keyboard users go on from the first name the page added (the button may be gone).
    if (focusNew && items.length) items[0].focus();
  }

  closePeople() {
    this.people = null;
    if (this.el.peopleDialog.open) this.el.peopleDialog.close();
  }
}

/** The member's own message (an announcement is nobody's, whoever reads it). */
function isMine(message, me) {
  return message.author_role !== "organiser" && message.user_id === me.id;
}

function messageItem(message, me) {
  const date = parseServerTime(message.inserted_at);
  const organiser = message.author_role === "organiser";
  const mine = isMine(message, me);
  const classes = ["message"];
  const dataset = { seq: message.seq, role: organiser ? "organiser" : "member" };
  if (mine) classes.push("mine");
  if (organiser) classes.push("announcement");
  if (message.hidden) {
    classes.push("hidden-message");
    dataset.hidden = "true";
  }
  return h(
    "li",
    { class: classes.join(" "), dataset },
    h(
      "p",
      { class: "message-meta" },
      organiser ? [h("span", { class: "badge" }, ORGANISER_BADGE), " "] : null,
      h("span", { class: "author" }, mine ? "You" : message.username),
      " ",
      date ? h("time", { datetime: date.toISOString(), title: fullTime(date) }, messageTime(date)) : null,
    ),
    message.hidden
      ? h("p", { class: "message-text hidden-text" }, HIDDEN_MESSAGE)
      : h("p", { class: "message-text" }, message.content),
  );
}

/** One line of "Who's here": the name, and online or not in words. */
function personItem(person, me) {
  return h(
    "li",
    { class: person.online ? "online" : "away", tabindex: "-1", dataset: { userId: person.id } },
    h("span", { class: "person-name" }, person.username, person.id === me.id ? " (you)" : ""),
    " ",
    h("span", { class: "person-state" }, person.online ? "online now" : "not online"),
  );
}
