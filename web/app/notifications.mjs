// The user's notifications: the unread ones at sign-in (REST), new ones as the server pushes
// them on `user:<id>`, shown in a banner and listed in a panel where they can be marked read.
// One the user can act on says how: `reinstated` (the organisers let them back into a chat
// they were removed from) offers "Join again".

import { api } from "./api.mjs";
import { byId, fill, h, show } from "./dom.mjs";
import { fullTime, messageTime, parseServerTime } from "./words.mjs";

export class Notifications {
  /** `onArrived(notification)`: a new one was pushed (e.g. a room opened). `onJoin(eventId)`:
   * the user chose "Join again". */
  constructor({ getSession, onUnauthorized, onArrived, onJoin }) {
    this.getSession = getSession;
    this.onUnauthorized = onUnauthorized;
    this.onArrived = onArrived;
    this.onJoin = onJoin;
    this.items = new Map();
    /** The notification the banner shows. */
    this.noticed = null;
    this.el = {
      toggle: byId("notifications-toggle"),
      count: byId("notifications-count"),
      panel: byId("notifications"),
      list: byId("notifications-list"),
      empty: byId("notifications-empty"),
      notice: byId("notice"),
      noticeText: byId("notice-text"),
      noticeJoin: byId("notice-join"),
    };
    this.el.toggle.addEventListener("click", () => this.toggle());
    byId("notifications-close").addEventListener("click", () => {
      this.toggle(false);
      this.el.toggle.focus();
    });
    this.el.panel.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        this.toggle(false);
        this.el.toggle.focus();
      }
    });
    byId("notice-dismiss").addEventListener("click", () => show(this.el.notice, false));
    this.el.noticeJoin.addEventListener("click", () => this.noticed && this.join(this.noticed));
  }

  async load() {
    const session = this.getSession();
    try {
      const unread = await api("/api/notifications?status=unread", {
        token: session.token,
        onUnauthorized: this.onUnauthorized,
      });
      for (const item of unread || []) this.items.set(item.id, item);
    } catch {
      // The list stays as it is; pushes still arrive.
    }
    this.render();
  }

  pushed(notification) {
    if (!notification || !notification.id) return;
    this.items.set(notification.id, notification);
    this.noticed = notification;
    fill(this.el.noticeText, notification.message);
    show(this.el.noticeJoin, canJoin(notification));
    show(this.el.notice, true);
    this.render();
    this.onArrived(notification);
  }

  reset() {
    this.items.clear();
    show(this.el.notice, false);
    this.toggle(false);
    this.render();
  }

  toggle(open = this.el.panel.hidden) {
    show(this.el.panel, open);
    this.el.toggle.setAttribute("aria-expanded", String(open));
  }

  render() {
    const unread = [...this.items.values()].filter((item) => item.status === "unread");
    fill(this.el.count, unread.length ? `(${unread.length} new)` : "");
    show(this.el.empty, unread.length === 0);
    unread.sort((a, b) => String(b.inserted_at).localeCompare(String(a.inserted_at)));
    fill(this.el.list, unread.map((item) => this.row(item)));
  }

  row(item) {
    const date = parseServerTime(item.inserted_at);
    const button = h("button", { type: "button", class: "link-button" }, "Mark as read");
    button.addEventListener("click", () => this.markRead(item));
    let join = null;
    if (canJoin(item)) {
      join = h("button", { type: "button", class: "link-button" }, "Join again");
      join.addEventListener("click", () => this.join(item));
    }
    return h(
      "li",
      {},
      h("p", {}, item.message),
      h(
        "p",
        { class: "muted" },
        date ? h("time", { datetime: date.toISOString(), title: fullTime(date) }, messageTime(date)) : "",
        " ",
        join,
        join ? " " : null,
        button,
      ),
    );
  }

  /** "Join again": to the room, and the notification has done its job. */
  join(item) {
    show(this.el.notice, false);
    this.toggle(false);
    if (item.status === "unread") this.markRead(item);
    this.onJoin(item.event_id);
  }

  async markRead(item) {
    try {
      const updated = await api(`/api/notifications/${item.id}/read`, {
        method: "POST",
        token: this.getSession().token,
        onUnauthorized: this.onUnauthorized,
      });
      this.items.set(item.id, updated || { ...item, status: "read" });
    } catch {
      this.items.delete(item.id); // gone (its event was deleted): nothing to mark
    }
    this.render();
  }
}

/** The organisers let the user back into an event's chat: they may join it again. */
function canJoin(item) {
  return item.kind === "reinstated" && typeof item.event_id === "string";
}
