// Where the signed-in user's token lives: sessionStorage, for this tab only.
//
// The token is a bearer credential for the REST API and the socket, valid for days. Any script
// running in this page could read it wherever the page keeps it, so what protects it from
// script injection is that none can run (message text is rendered as text, and the
// Content-Security-Policy allows no inline script). What the choice of storage decides is how
// long the token sits on the device: sessionStorage survives reloads of this tab (so a reload
// rejoins the room without a new sign-in) and is gone when the tab is closed; localStorage
// would keep it on disk for every later visit, which on a shared computer is the next user's.
// A cookie would be sent with every request, and so would need CSRF defences. Signing out
// revokes the token on the server as well.

const KEY = "ticket-chat:session";

/** `{token, user: {id, username, email}}`, or null. */
export function loadSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
    if (saved && typeof saved.token === "string" && saved.user && saved.user.id) return saved;
  } catch {
    // Unreadable: treated as signed out.
  }
  return null;
}

export function saveSession(session) {
  sessionStorage.setItem(KEY, JSON.stringify({ token: session.token, user: session.user }));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}
