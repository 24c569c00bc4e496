// The socket to the service (phoenix.js, unchanged) and the user's own `user:<id>` channel.
//
// * The token goes as phoenix.js 1.8's `authToken` (a WebSocket sub-protocol, or a header over
//   LongPoll), not as a URL parameter, so it never shows up in access logs or proxies' URLs.
// * `longPollFallbackMs`: when WebSockets do not get through (a proxy that refuses them), the
//   socket falls back to LongPoll over plain HTTP requests and the chat works the same.
// * After a cut phoenix.js reconnects with backoff and rejoins every channel; the rooms pick up
//   what they missed (room.mjs).

const LONGPOLL_FALLBACK_MS = 2_500;
const AUTH_CHECK_INTERVAL_MS = 10_000;

export class Live {
  /**
   * `onState({state, transport})`: "connecting" | "connected" | "reconnecting" | "stopped".
   * `onNotification(notification)`: pushed by the server as it is stored.
   * `checkSession()`: resolves false when the token is no longer accepted.
   */
  constructor({ phoenix, token, userId, onState, onNotification, checkSession }) {
    this.phoenix = phoenix;
    this.onState = onState;
    this.checkSession = checkSession;
    this.lastAuthCheck = 0;
    this.stopped = false;
    this.socket = new phoenix.Socket("/socket", {
      authToken: token,
      longPollFallbackMs: LONGPOLL_FALLBACK_MS,
    });
    this.socket.onOpen(() => this.report("connected"));
    this.socket.onClose(() => this.report("reconnecting"));
    this.socket.onError(() => {
      this.report("reconnecting");
      this.maybeCheckSession();
    });
    this.userChannel = this.socket.channel(`user:${userId}`, {});
    this.userChannel.on("notification", (notification) => onNotification(notification));
  }

  start() {
    this.report("connecting");
    this.socket.connect();
    this.userChannel.join();
  }

  stop() {
    this.stopped = true;
    this.userChannel.leave();
    this.socket.disconnect();
    this.onState({ state: "stopped", transport: null });
  }

  get transportName() {
    return this.socket.transport === this.phoenix.LongPoll ? "long polling" : "WebSocket";
  }

  report(state) {
    if (this.stopped) return;
    if (state === "reconnecting" && this.socket.isConnected()) return; // a stale callback
    this.onState({ state, transport: state === "connected" ? this.transportName : null });
  }

  /** A refused connection may mean a revoked token (signed out elsewhere): ask the REST API,
   * at most every few seconds, rather than retrying a dead token forever. */
  async maybeCheckSession() {
    const now = Date.now();
    if (now - this.lastAuthCheck < AUTH_CHECK_INTERVAL_MS) return;
    this.lastAuthCheck = now;
    await this.checkSession();
  }
}
