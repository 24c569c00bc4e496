// Load generator for the ticket chat benchmark: real phoenix.js (npm `phoenix` 1.8) clients,
// one Socket per member, driven by bench/chat.py over stdin/stdout (one JSON object per line).
//
//   {"cmd": "connect", "url": "ws://…/socket", "members": [{"token", "topic", "ticket"}]}
//                                         (a member's own "url", if it has one, wins: several
//                                         nodes)
//   {"cmd": "join", "ticket": true}       join every member's room (with or without its number)
//   {"cmd": "leave"}                      leave every room
//   {"cmd": "disconnect"}                 close every member's socket
//   {"cmd": "ingest", "rate": 2000, "seconds": 5}
//                                         every member posts new_message with a client_id, the
//                                         total spread evenly over time (open loop)
//   {"cmd": "quit"}
//
// Each command is answered with one {"event": <cmd>, ...} line when it is complete, so the
// orchestrator can read the server's CPU time exactly around it. Ingest checks what every
// member receives: each must see every seq of its room once and in order, from the seq it
// joined at to the highest one acknowledged in that room.

import { createRequire } from "node:module";
import readline from "node:readline";
import { performance } from "node:perf_hooks";

const require = createRequire(new URL("../tests/js/package.json", import.meta.url));
globalThis.self ??= globalThis;
const { WebSocket } = require("ws");
const { Socket } = require("phoenix18");

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let members = [];

class Member {
  constructor(index, spec) {
    this.index = index;
    this.spec = spec;
    this.socket = null;
    this.channel = null;
    this.joinedAt = 0; // the room's highest seq this member had when it joined
    this.expected = 0; // next seq it should see
    this.received = 0;
    this.duplicates = 0;
    this.outOfOrder = 0;
    this.seen = new Set();
  }

  connect(url) {
    return new Promise((resolve, reject) => {
      const socket = new Socket(url, {
        transport: WebSocket,
        params: { token: this.spec.token },
        reconnectAfterMs: () => 60_000,
        heartbeatIntervalMs: 30_000,
        timeout: 30_000,
      });
      const onError = () => reject(new Error(`member ${this.index} could not connect`));
      socket.onOpen(() => resolve());
      socket.onError(onError);
      socket.connect();
      this.socket = socket;
    });
  }

  join(withTicket) {
    const params = withTicket ? { ticket_number: this.spec.ticket } : {};
    const channel = this.socket.channel(this.spec.topic, params);
    channel.on("new_message", (message) => this.onMessage(message.seq));
    this.channel = channel;
    return new Promise((resolve) => {
      channel
        .join(30_000)
        .receive("ok", (reply) => {
          const seqs = (reply.messages || []).map((m) => m.seq);
          this.joinedAt = seqs.length ? Math.max(...seqs) : 0;
          this.reset();
          resolve(null);
        })
        .receive("error", (reply) => resolve(reply.reason || "error"))
        .receive("timeout", () => resolve("timeout"));
    });
  }

  leave() {
    const channel = this.channel;
    this.channel = null;
    if (!channel) return Promise.resolve();
    return new Promise((resolve) => channel.leave(30_000).receive("ok", resolve).receive("timeout", resolve));
  }

  reset() {
    this.expected = this.joinedAt + 1;
    this.received = 0;
    this.duplicates = 0;
    this.outOfOrder = 0;
    this.seen = new Set();
  }

  onMessage(seq) {
    if (seq <= this.joinedAt) return;
    if (this.seen.has(seq)) {
      this.duplicates += 1;
      return;
    }
    this.seen.add(seq);
    this.received += 1;
    if (seq !== this.expected) this.outOfOrder += 1;
    this.expected = Math.max(this.expected, seq + 1);
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length));
  return sorted[index];
}

async function inBatches(items, size, fn) {
  const results = [];
  for (let i = 0; i < items.length; i += size) {
    results.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  }
  return results;
}

async function connect(cmd) {
  members = cmd.members.map((spec, index) => new Member(index, spec));
  const started = performance.now();
  await inBatches(members, cmd.concurrency || 50, (m) => m.connect(m.spec.url || cmd.url));
  return { members: members.length, seconds: (performance.now() - started) / 1000 };
}

async function join(cmd) {
  const started = performance.now();
  const outcomes = await Promise.all(members.map((m) => m.join(Boolean(cmd.ticket))));
  const seconds = (performance.now() - started) / 1000;
  const errors = {};
  for (const reason of outcomes) if (reason) errors[reason] = (errors[reason] || 0) + 1;
  return { joined: outcomes.filter((r) => r === null).length, errors, seconds };
}

async function leave() {
  await Promise.all(members.map((m) => m.leave()));
  return {};
}

async function disconnect() {
  await Promise.all(members.map((m) => new Promise((resolve) => m.socket.disconnect(resolve))));
  members = [];
  return {};
}

async function ingest(cmd) {
  const { rate, seconds } = cmd;
  const total = Math.round(rate * seconds);
  for (const m of members) m.reset();
  const latencies = new Float64Array(total);
  const maxSeq = new Map(); // topic -> highest acknowledged seq
  let sent = 0;
  let acked = 0;
  let settled = 0;
  const errors = {};
  let allSettled;
  const done = new Promise((resolve) => (allSettled = resolve));
  const settle = () => {
    settled += 1;
    if (settled === total) allSettled();
  };
  const started = performance.now();
  let next = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
    while (sent < due) {
      const member = members[next];
      next = (next + 1) % members.length;
      const index = sent++;
      const t0 = performance.now();
      member.channel
        .push("new_message", { content: `m${index} from ${member.index}`, client_id: `c${index}-${started}` }, 30_000)
        .receive("ok", (reply) => {
          latencies[acked++] = performance.now() - t0;
          const seq = reply.message.seq;
          const topic = member.spec.topic;
          if ((maxSeq.get(topic) || 0) < seq) maxSeq.set(topic, seq);
          settle();
        })
        .receive("error", (reply) => {
          const reason = reply.reason || "error";
          errors[reason] = (errors[reason] || 0) + 1;
          settle();
        })
        .receive("timeout", () => {
          errors.timeout = (errors.timeout || 0) + 1;
          settle();
        });
    }
    await sleep(1);
  }
  const sendSeconds = (performance.now() - started) / 1000;
  await Promise.race([done, sleep(60_000)]);
  const ackSeconds = (performance.now() - started) / 1000;
  // Broadcasts follow their acks closely; wait until every member has what it should.
  const expectedOf = (m) => Math.max(0, (maxSeq.get(m.spec.topic) || m.joinedAt) - m.joinedAt);
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline && members.some((m) => m.received < expectedOf(m))) {
    await sleep(5);
  }
  let lost = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let deliveries = 0;
  for (const m of members) {
    lost += Math.max(0, expectedOf(m) - m.received);
    duplicates += m.duplicates;
    outOfOrder += m.outOfOrder;
    deliveries += m.received;
    m.joinedAt = Math.max(m.joinedAt, maxSeq.get(m.spec.topic) || 0);
  }
  const sorted = Array.from(latencies.subarray(0, acked)).sort((a, b) => a - b);
  return {
    offered: rate,
    sent,
    acked,
    errors,
    send_seconds: sendSeconds,
    ack_seconds: ackSeconds,
    p50_ms: percentile(sorted, 50),
    p99_ms: percentile(sorted, 99),
    max_ms: sorted.length ? sorted[sorted.length - 1] : null,
    deliveries,
    lost,
    duplicates,
    out_of_order: outOfOrder,
  };
}

const COMMANDS = { connect, join, leave, disconnect, ingest };

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line);
  if (cmd.cmd === "quit") break;
  try {
    emit({ event: cmd.cmd, ok: true, ...(await COMMANDS[cmd.cmd](cmd)) });
  } catch (error) {
    emit({ event: cmd.cmd, ok: false, error: String(error && error.stack || error) });
  }
}
for (const m of members) m.socket && m.socket.disconnect();
process.exit(0);
