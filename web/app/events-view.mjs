// The list of upcoming events, each with its room's state and a "Join chat" form.

import { api } from "./api.mjs";
import { byId, fill, h, show } from "./dom.mjs";
import { eventTime, fullTime, parseServerTime, roomOpensAt } from "./words.mjs";

export class EventsView {
  /** `onJoin(eventId, ticketNumber)`: the user asked to join that event's chat. */
  constructor({ getSession, onUnauthorized, onJoin }) {
    this.getSession = getSession;
    this.onUnauthorized = onUnauthorized;
    this.onJoin = onJoin;
    this.el = {
      list: byId("events-list"),
      empty: byId("events-empty"),
      error: byId("events-error"),
    };
    this.loading = null;
  }

  async load() {
    const session = this.getSession();
    fill(this.el.error);
    try {
      const events = await api("/api/events", { token: session.token, onUnauthorized: this.onUnauthorized });
      this.render(events || []);
    } catch (error) {
      fill(this.el.error, error.message);
    }
  }

  render(events) {
    show(this.el.empty, events.length === 0);
    fill(this.el.list, events.map((event) => this.card(event)));
  }

  card(event) {
    const titleId = `event-${event.id}`;
    const inputId = `ticket-${event.id}`;
    const hintId = `ticket-hint-${event.id}`;
    const start = parseServerTime(event.start_time);
    const form = h(
      "form",
      { class: "join-card-form", "aria-label": `Join the chat of ${event.name}` },
      h("label", { for: inputId }, "Ticket number"),
      h("input", {
        id: inputId,
        name: "ticket",
        autocomplete: "off",
        spellcheck: "false",
        "aria-describedby": hintId,
      }),
      h("button", { type: "submit", class: "primary" }, "Join chat"),
      h("p", { id: hintId, class: "hint" }, "Needed the first time only; after that, just join."),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.onJoin(event.id, form.elements.ticket.value.trim() || null);
    });
    return h(
      "li",
      { class: "event-card" },
      h(
        "article",
        { "aria-labelledby": titleId },
        h("h2", { id: titleId }, event.name),
        h(
          "p",
          { class: "event-when" },
          start ? h("time", { datetime: start.toISOString(), title: fullTime(start) }, eventTime(start)) : "",
          ` · ${event.location}`,
        ),
        h("p", { class: "event-description" }, event.description),
        h("p", { class: "event-room", dataset: { status: event.chat_room.status } }, roomLine(event)),
        form,
      ),
    );
  }
}

function roomLine(event) {
  const status = event.chat_room && event.chat_room.status;
  if (status === "active") return [h("strong", {}, "Chat open"), " now"];
  if (status === "archived") return [h("strong", {}, "Chat archived"), " (read-only)"];
  const opens = roomOpensAt(event);
  return [h("strong", {}, "Chat not open yet"), opens ? ` · opens ${eventTime(opens)}` : ""];
}
