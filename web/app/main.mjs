// The chat page: sign in, the events, a room. Plain modules, no build step; the only library
// is the official phoenix.js client, served unchanged at /assets/phoenix.mjs.

import { api } from "./api.mjs";
import { AuthView } from "./auth-view.mjs";
import { byId, fill, show } from "./dom.mjs";
import { EventsView } from "./events-view.mjs";
import { Live } from "./live.mjs";
import { Notifications } from "./notifications.mjs";
import { RoomView } from "./room-view.mjs";
import { clearSession, loadSession, saveSession } from "./session.mjs";

const ROOM_ROUTE = /^#\/events\/([0-9a-fA-F-]{36})$/;
const VIEWS = ["auth-view", "events-view", "room-view"];
const CONNECTION_WORDS = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Offline, reconnecting…",
};

class App {
  constructor(phoenix) {
    this.phoenix = phoenix;
    this.session = null;
    this.live = null;
    /** Ticket numbers typed on the events page, kept out of the URL: eventId → number. */
    this.tickets = new Map();
    const common = {
      getSession: () => this.session,
      onUnauthorized: () => this.endSession("Your session has ended. Please sign in again."),
    };
    this.auth = new AuthView({ onSignedIn: (session) => this.signedIn(session) });
    this.events = new EventsView({
      ...common,
      onJoin: (eventId, ticket) => {
        if (ticket) this.tickets.set(eventId, ticket);
        location.hash = `#/events/${eventId}`;
      },
    });
    this.room = new RoomView({ ...common, phoenix, getLive: () => this.live });
    this.notifications = new Notifications({
      ...common,
      onArrived: (notification) => {
        if (notification.kind === "room_opened" && !byId("events-view").hidden) this.events.load();
        if (notification.kind === "reinstated") this.room.reinstated(notification.event_id);
      },
      onJoin: (eventId) => this.openRoom(eventId),
    });
    byId("sign-out").addEventListener("click", () => this.signOut());
    window.addEventListener("hashchange", () => this.route());
  }

  start() {
    show(byId("boot"), false);
    const session = loadSession();
    if (session) this.signedIn(session, { saved: true });
    else this.showAuth();
  }

  showView(id) {
    for (const view of VIEWS) show(byId(view), view === id);
    document.body.dataset.view = id; // the room fills the window; the others scroll
  }

  showAuth(message = "") {
    this.showView("auth-view");
    show(byId("account"), false);
    this.auth.reset(message);
  }

  signedIn(session, { saved = false } = {}) {
    this.session = session;
    if (!saved) saveSession(session);
    fill(byId("account-name"), session.user.username);
    show(byId("account"), true);
    this.live = new Live({
      phoenix: this.phoenix,
      token: session.token,
      userId: session.user.id,
      onState: (state) => this.showConnection(state),
      onNotification: (notification) => this.notifications.pushed(notification),
      checkSession: () => this.checkSession(),
    });
    this.live.start();
    this.notifications.load();
    this.route();
  }

  route() {
    if (!this.session) return;
    const match = ROOM_ROUTE.exec(location.hash);
    if (match) {
      const eventId = match[1].toLowerCase();
      const ticket = this.tickets.get(eventId) || null;
      this.tickets.delete(eventId);
      this.showView("room-view");
      this.room.open(eventId, ticket);
      byId("room-title").focus();
    } else {
      this.room.close();
      this.showView("events-view");
      this.events.load();
      byId("events-title").focus();
    }
  }

  /** To the event's room; already there (the organisers had removed the user), join again. */
  openRoom(eventId) {
    const hash = `#/events/${eventId}`;
    if (location.hash === hash) this.route();
    else location.hash = hash;
  }

  showConnection({ state, transport }) {
    const indicator = byId("connection");
    indicator.dataset.state = state;
    show(indicator, state !== "stopped");
    fill(byId("connection-text"), CONNECTION_WORDS[state] || state);
    fill(byId("connection-transport"), transport ? ` (${transport})` : "");
  }

  async checkSession() {
    const session = this.session;
    if (!session) return;
    try {
      await api(`/api/users/${session.user.id}`, {
        token: session.token,
        onUnauthorized: () => this.endSession("Your session has ended. Please sign in again."),
      });
    } catch {
      // Unreachable: the socket keeps trying.
    }
  }

  async signOut() {
    const session = this.session;
    if (!session) return;
    this.stopLive();
    try {
      // Revokes the token on the server too: a copy of it is worthless from now on.
      await api("/api/users/sign_out", { method: "POST", token: session.token });
    } catch {
      // Offline or already revoked: forgetting it here is what is left to do.
    }
    this.endSession("You have signed out.");
  }

  endSession(message) {
    if (!this.session) return;
    this.stopLive();
    this.session = null;
    clearSession();
    this.notifications.reset();
    history.replaceState(null, "", location.pathname);
    this.showAuth(message);
  }

  stopLive() {
    this.room.close();
    if (this.live) this.live.stop();
    this.live = null;
  }
}

const phoenix = await import("./phoenix.mjs").catch(() => null);
if (phoenix) {
  new App(phoenix).start();
} else {
  fill(
    byId("boot"),
    "The chat cannot start: its client library (phoenix.js) is not installed on this server. " +
      "Whoever runs the server can install it with `make setup`.",
  );
  byId("boot").classList.add("error");
}
