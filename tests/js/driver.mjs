// Drives the unmodified official phoenix.js clients (npm `phoenix` 1.7 and 1.8) for phxpy's
// Python tests. One long-running Node process hosts any number of named clients; it is
// scripted over stdin with one JSON command per line and answers on stdout with one JSON
// object per line:
//
//   command  {"id": 7, "cmd": "push", "client": "a", "topic": "room:lobby", ...}
//   answer   {"id": 7, "ok": true, ...}   or   {"id": 7, "ok": false, "error": "..."}
//   event    {"event": "message", "client": "a", "topic": "room:lobby", ...}   (any time)
//
// tests/phoenixjs.py is the Python side and documents every command and event. Diagnostics
// go to stderr only, so stdout stays a clean JSON-lines stream.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import readline from "node:readline";

// phoenix.js looks up its host environment as `self || window || global`. phoenix 1.7 spells
// the last one as the module's own (hoisted, still undefined) `global` variable, so under
// Node it would see no environment at all and LongPoll's Ajax would crash on
// `undefined.XMLHttpRequest`. Giving Node a `self`, as a Web Worker has, makes both lines
// find globalThis. No `window`: the clients must not install page-visibility handlers.
globalThis.self ??= globalThis;

const require = createRequire(import.meta.url);
// LongPoll (1.7 and 1.8) talks HTTP through XMLHttpRequest, as in a browser. Node 20 has
// none; xhr2 is a dependency-free implementation of the XHR level 2 interface, including the
// timeout/ontimeout/abort that LongPoll relies on. (1.8 could use fetch, but it prefers
// XMLHttpRequest when present, as every browser has it, so this is the path users run.)
globalThis.XMLHttpRequest ??= require("xhr2");
const BaseXHR = globalThis.XMLHttpRequest;
// Node 20 has no global WebSocket either; `ws` is handed to each Socket as its transport.
const { WebSocket } = await import("ws");

const PACKAGES = { "1.7": "phoenix17", "1.8": "phoenix18" }; // npm aliases in package.json
const LIBS = {};
const VERSIONS = {};
for (const [line, pkg] of Object.entries(PACKAGES)) {
  LIBS[line] = await import(pkg);
  VERSIONS[line] = JSON.parse(readFileSync(new URL(`./node_modules/${pkg}/package.json`, import.meta.url))).version;
}

// ------------------------------------------------------------------------------- output

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function log(...args) {
  console.error("[phoenixjs-driver]", ...args);
}

// A crash of this process would look like a hang to the tests: report everything instead.
process.on("uncaughtException", (err) => log("uncaught exception:", err && err.stack || err));
process.on("unhandledRejection", (err) => log("unhandled rejection:", err && err.stack || err));

// --------------------------------------------------------------------------- encoding

function toArrayBuffer(b64) {
  const buf = Buffer.from(b64, "base64");
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}

function fromArrayBuffer(ab) {
  return Buffer.from(ab).toString("base64");
}

// Binary payloads cannot travel in JSON: they are sent as `<field>_b64` instead of `<field>`.
function withPayload(obj, field, value) {
  if (value instanceof ArrayBuffer) {
    obj[`${field}_b64`] = fromArrayBuffer(value);
  } else if (ArrayBuffer.isView(value)) {
    obj[`${field}_b64`] = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64");
  } else {
    obj[field] = value === undefined ? null : value;
  }
  return obj;
}

function payloadOf(cmd) {
  if (cmd.payload_b64 !== undefined && cmd.payload_b64 !== null) return toArrayBuffer(cmd.payload_b64);
  return cmd.payload === undefined || cmd.payload === null ? {} : cmd.payload;
}

function jsonable(value) {
  if (value === undefined) return null;
  if (typeof value !== "object" || value === null) return value;
  try {
    return JSON.parse(JSON.stringify(value));
  } catch {
    return String(value);
  }
}

// [10, 50, 200] -> tries => 10, 50, 200, 200, ...: phoenix.js's back-off callbacks from a list.
function backoff(list) {
  return (tries) => list[Math.min(Math.max(tries, 1), list.length) - 1];
}

// An in-memory sessionStorage, per "tab" name, for longPollFallbackMs's memorized fallback.
const sessionStores = new Map();
function sessionStore(name) {
  if (!sessionStores.has(name)) {
    const data = new Map();
    sessionStores.set(name, {
      getItem: (k) => (data.has(k) ? data.get(k) : null),
      setItem: (k, v) => data.set(k, String(v)),
      removeItem: (k) => data.delete(k),
      clear: () => data.clear(),
    });
  }
  return sessionStores.get(name);
}

// ---------------------------------------------------------------------------- clients

const clients = new Map(); // name -> {name, version, lib, socket, params, channels: Map}

function getClient(cmd) {
  const client = clients.get(cmd.client);
  if (!client) throw new Error(`no client ${JSON.stringify(cmd.client)}`);
  return client;
}

function getChannel(cmd) {
  const entry = getClient(cmd).channels.get(cmd.topic);
  if (!entry) throw new Error(`client ${cmd.client} has no channel ${JSON.stringify(cmd.topic)}`);
  return entry;
}

function transportName(client) {
  const transport = client.socket.transport;
  const longPoll = transport === client.lib.LongPoll || transport.prototype instanceof client.lib.LongPoll;
  return longPoll ? "longpoll" : "websocket";
}

// A page in a browser sends its origin with the WebSocket handshake and with every LongPoll
// request; Node's `ws` and xhr2 send none. A client connected with `origin` uses these
// transports, which send it as a page served from that origin would (xhr2 refuses to set
// Origin itself, as browsers do, so it is written into the request's headers directly).
function withOrigin(lib, transport, origin) {
  if (transport === lib.LongPoll) {
    class OriginXHR extends BaseXHR {
      open(...args) {
        super.open(...args);
        this._headers.Origin = origin;
        this._loweredHeaders.origin = "Origin";
      }
    }
    // phoenix.js creates each request's XMLHttpRequest synchronously inside ajax().
    return class LongPollFromOrigin extends lib.LongPoll {
      ajax(...args) {
        globalThis.XMLHttpRequest = OriginXHR;
        try {
          return super.ajax(...args);
        } finally {
          globalThis.XMLHttpRequest = BaseXHR;
        }
      }
    };
  }
  return class WebSocketFromOrigin extends transport {
    constructor(url, protocols) {
      super(url, protocols, { origin });
    }
  };
}

const CONNECT_OPTIONS = ["timeout", "heartbeatIntervalMs", "longpollerTimeout", "longPollFallbackMs", "vsn", "binaryType"];

function connect(cmd) {
  if (clients.has(cmd.client)) throw new Error(`client ${cmd.client} already exists`);
  const version = cmd.version || "1.8";
  const lib = LIBS[version];
  if (!lib) throw new Error(`unknown phoenix version ${version}; known: ${Object.keys(LIBS).join(", ")}`);
  if (!cmd.url) throw new Error("connect needs a url, e.g. ws://127.0.0.1:4000/socket");

  const client = { name: cmd.client, version, lib, params: cmd.params || {}, channels: new Map() };
  const opts = {
    // A function, so `set_params` changes what the next reconnect sends (phoenix.js
    // re-evaluates params on every connect, as an app does after a token refresh).
    params: () => client.params,
    transport: cmd.transport === "longpoll" ? lib.LongPoll : WebSocket,
    sessionStorage: sessionStore(cmd.session_storage || `client:${cmd.client}`),
    ...(cmd.options || {}),
  };
  for (const key of CONNECT_OPTIONS) {
    if (cmd[key] !== undefined && cmd[key] !== null) opts[key] = cmd[key];
  }
  if (cmd.authToken !== undefined && cmd.authToken !== null) opts.authToken = cmd.authToken;
  if (cmd.origin) opts.transport = withOrigin(lib, opts.transport, cmd.origin);
  if (cmd.reconnectAfterMs) opts.reconnectAfterMs = backoff(cmd.reconnectAfterMs);
  if (cmd.rejoinAfterMs) opts.rejoinAfterMs = backoff(cmd.rejoinAfterMs);
  if (cmd.debug) opts.logger = (kind, msg, data) => log(cmd.client, kind, msg, JSON.stringify(data));

  const socket = new lib.Socket(cmd.url, opts);
  client.socket = socket;
  clients.set(cmd.client, client);
  const name = cmd.client;

  socket.onOpen(() => emit({ event: "open", client: name, transport: transportName(client) }));
  socket.onClose((ev) =>
    emit({
      event: "close",
      client: name,
      code: ev && ev.code !== undefined ? ev.code : null,
      reason: ev && ev.reason ? String(ev.reason) : "",
      wasClean: ev && ev.wasClean !== undefined ? !!ev.wasClean : null,
      transport: transportName(client),
    }),
  );
  socket.onError((err) =>
    emit({
      event: "error",
      client: name,
      error: err && (err.message || err.type) ? String(err.message || err.type) : String(err),
      transport: transportName(client),
    }),
  );
  if (cmd.frames) {
    // Every decoded inbound message, heartbeat replies included: for tests about the wire.
    socket.onMessage((msg) =>
      emit(withPayload({ event: "frame", client: name, join_ref: msg.join_ref ?? null, ref: msg.ref ?? null, topic: msg.topic, name: msg.event }, "payload", msg.payload)),
    );
  }
  socket.connect();
  return {};
}

// Events phoenix.js routes through channel.onMessage that are not application messages:
// replies come back as `join`/`reply`/`leave` events, lifecycle as channel_error/_close.
const LIFECYCLE = new Set(["phx_reply", "phx_join", "phx_leave", "phx_error", "phx_close"]);

function channelJoin(cmd) {
  const client = getClient(cmd);
  const existing = client.channels.get(cmd.topic);
  if (existing && existing.channel.state !== "closed") {
    throw new Error(`client ${cmd.client} already has channel ${cmd.topic} (state ${existing.channel.state}); leave it first`);
  }
  const entry = { vars: { value: cmd.dynamic_value }, presence: null };
  const base = cmd.payload || {};
  // phoenix.js evaluates a params function at every (re)join: `dynamic_key` takes its value
  // from a variable the test changes with `set_var` (e.g. a chat's `after_seq`).
  const params = cmd.dynamic_key
    ? () => (entry.vars.value === undefined ? { ...base } : { ...base, [cmd.dynamic_key]: entry.vars.value })
    : base;
  const channel = client.socket.channel(cmd.topic, params);
  entry.channel = channel;
  client.channels.set(cmd.topic, entry);
  const { client: name, topic } = cmd;

  channel.onMessage = (event, payload, ref, joinRef) => {
    if (!LIFECYCLE.has(event) && !event.startsWith("chan_reply_")) {
      emit(withPayload({ event: "message", client: name, topic, name: event, join_ref: joinRef ?? null }, "payload", payload));
    }
    return payload;
  };
  // reason: the server's phx_error payload ({}), or phoenix.js's "connection_closed" /
  // "connection_error" when the socket went away under the channel.
  channel.onError((reason) => emit({ event: "channel_error", client: name, topic, reason: jsonable(reason) }));
  channel.onClose(() => emit({ event: "channel_close", client: name, topic }));
  if (cmd.presence) attachPresence(client, entry, topic);

  // Rejoins resend this same Push, so these hooks fire for every join reply, rejoins included.
  const push = cmd.timeout ? channel.join(cmd.timeout) : channel.join();
  for (const status of ["ok", "error", "timeout"]) {
    push.receive(status, (response) =>
      emit(withPayload({ event: "join", client: name, topic, status, join_ref: channel.joinRef() ?? null }, "response", response)),
    );
  }
  return {};
}

function attachPresence(client, entry, topic) {
  if (entry.presence) throw new Error(`presence already attached to ${topic}`);
  const presence = new client.lib.Presence(entry.channel);
  const name = client.name;
  const list = () => Object.fromEntries(presence.list((key, { metas }) => [key, metas]));
  presence.onSync(() => emit({ event: "presence_sync", client: name, topic, list: list() }));
  presence.onJoin((key, current, joined) =>
    emit({ event: "presence_join", client: name, topic, key, current: current ? current.metas : null, metas: joined.metas }),
  );
  presence.onLeave((key, current, left) =>
    emit({ event: "presence_leave", client: name, topic, key, current: current ? current.metas : null, metas: left.metas }),
  );
  entry.presence = { presence, list };
}

function pushCmd(cmd) {
  const { channel } = getChannel(cmd);
  const payload = payloadOf(cmd);
  const { id, client, topic, event } = cmd;
  const push = cmd.timeout ? channel.push(event, payload, cmd.timeout) : channel.push(event, payload);
  for (const status of ["ok", "error", "timeout"]) {
    push.receive(status, (response) => emit(withPayload({ event: "reply", id, client, topic, name: event, status }, "response", response)));
  }
  return {};
}

function leave(cmd) {
  const { channel } = getChannel(cmd);
  const { client, topic } = cmd;
  const push = cmd.timeout ? channel.leave(cmd.timeout) : channel.leave();
  for (const status of ["ok", "timeout"]) {
    push.receive(status, (response) => emit(withPayload({ event: "leave", client, topic, status }, "response", response)));
  }
  return {};
}

function disconnect(cmd, reply) {
  const client = getClient(cmd);
  // Answer only once phoenix.js reports the socket closed, so the test can go on at once.
  client.socket.disconnect(() => reply({}), cmd.code ?? undefined, cmd.reason ?? undefined);
}

function reconnect(cmd) {
  getClient(cmd).socket.connect();
  return {};
}

function presenceCmd(cmd) {
  const client = getClient(cmd);
  const entry = getChannel(cmd);
  if (cmd.start !== false) attachPresence(client, entry, cmd.topic);
  if (!entry.presence) throw new Error(`no presence on ${cmd.topic}`);
  return { list: entry.presence.list() };
}

function setVar(cmd) {
  getChannel(cmd).vars.value = cmd.value;
  return {};
}

function setParams(cmd) {
  getClient(cmd).params = cmd.params || {};
  return {};
}

function socketState(cmd) {
  const client = getClient(cmd);
  const channels = {};
  for (const [topic, { channel }] of client.channels) channels[topic] = channel.state;
  return {
    connection_state: client.socket.connectionState(),
    connected: client.socket.isConnected(),
    transport: transportName(client),
    version: client.version,
    channels,
  };
}

function forget(cmd, reply) {
  // Disconnect (if still connected) and drop the client, so its name can be reused.
  const client = getClient(cmd);
  client.socket.disconnect(() => {
    clients.delete(cmd.client);
    reply({});
  });
}

function quit(_cmd, reply) {
  for (const client of clients.values()) client.socket.disconnect();
  reply({});
  // Let stdout drain before exiting.
  process.stdout.write("", () => process.exit(0));
}

const HANDLERS = {
  connect,
  channel_join: channelJoin,
  push: pushCmd,
  leave,
  disconnect,
  reconnect,
  presence: presenceCmd,
  set_var: setVar,
  set_params: setParams,
  socket_state: socketState,
  forget,
  quit,
  versions: () => ({ versions: VERSIONS }),
};

function handle(line) {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (err) {
    log("bad command line:", line);
    emit({ id: null, ok: false, error: `bad JSON: ${err.message}` });
    return;
  }
  let answered = false;
  const reply = (fields) => {
    if (answered) return;
    answered = true;
    emit({ id: cmd.id, ok: true, ...fields });
  };
  try {
    const handler = HANDLERS[cmd.cmd];
    if (!handler) throw new Error(`unknown command ${JSON.stringify(cmd.cmd)}`);
    // Handlers taking a second argument answer asynchronously through it.
    if (handler.length >= 2) handler(cmd, reply);
    else reply(handler(cmd));
  } catch (err) {
    log(`command ${line} failed:`, err && err.stack || err);
    answered = true;
    emit({ id: cmd.id, ok: false, error: String(err && err.message || err) });
  }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  if (line.trim()) handle(line);
});
// The test process went away: do not linger with reconnecting sockets.
rl.on("close", () => process.exit(0));
emit({ event: "ready", versions: VERSIONS });
