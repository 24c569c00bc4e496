// A room's messages as this page knows them, keyed by `seq` (which grows by one per message in
// a room), so the same message arriving twice — a broadcast and a rejoin's catch-up, a reply
// and its broadcast — is kept once, and a hole in the sequence shows what is still missing.

export class Timeline {
  constructor() {
    this.bySeq = new Map();
    /** The oldest seq from which on everything is shown or being fetched; null before the join. */
    this.floor = null;
    /** The newest seq known to exist (seen, or announced by a join reply's `last_seq`). */
    this.top = 0;
    /** Seqs the organisers hid. */
    this.hiddenSeqs = new Set();
  }

  /** The newest message seen: what a rejoin asks to continue after (`after_seq`). */
  get lastSeen() {
    let last = 0;
    for (const seq of this.bySeq.keys()) if (seq > last) last = seq;
    return last;
  }

  /** Whether older history exists above what is shown (seq starts at 1). */
  get hasOlder() {
    return this.floor !== null && this.floor > 1;
  }

  /** The first join's messages (the latest ones) and the room's newest seq. */
  start(messages, lastSeq) {
    const added = this.add(messages);
    this.floor = messages.length ? Math.min(...messages.map((m) => m.seq)) : lastSeq + 1;
    this.expectUpTo(lastSeq);
    return added;
  }

  /** The server says every message up to `seq` exists. */
  expectUpTo(seq) {
    if (Number.isInteger(seq) && seq > this.top) this.top = seq;
  }

  /**
   * Keep the messages not seen yet; return those, oldest first. Older history that joins on
   * to what is shown (scrolling back, or filling a hole) lowers the floor.
   */
  add(messages) {
    const added = [];
    for (const message of messages) {
      if (!message || !Number.isInteger(message.seq) || this.bySeq.has(message.seq)) continue;
      const kept = this.hiddenSeqs.has(message.seq) ? hiddenCopy(message) : message;
      if (kept.hidden) this.hiddenSeqs.add(kept.seq);
      this.bySeq.set(kept.seq, kept);
      added.push(kept);
      this.expectUpTo(kept.seq);
    }
    added.sort((a, b) => a.seq - b.seq);
    if (added.length && this.floor !== null && added[0].seq < this.floor) {
      const newest = added[added.length - 1].seq;
      if (newest >= this.floor - 1) this.floor = added[0].seq;
    }
    return added;
  }

  /**
   * The organisers hid these seqs: the messages kept of them lose their content. Returns the
   * messages that changed (shown before with their content), oldest first.
   */
  hide(seqs) {
    const changed = [];
    for (const seq of seqs) {
      if (!Number.isInteger(seq)) continue;
      this.hiddenSeqs.add(seq);
      const message = this.bySeq.get(seq);
      if (message && !message.hidden) {
        const hidden = hiddenCopy(message);
        this.bySeq.set(seq, hidden);
        changed.push(hidden);
      }
    }
    return changed.sort((a, b) => a.seq - b.seq);
  }

  /** Scrolling back found nothing older: what is shown starts the room. */
  reachedStart() {
    this.floor = 1;
  }

  /** The newest seq between the floor and the top that is not here yet, or null. */
  newestMissing() {
    if (this.floor === null) return null;
    for (let seq = this.top; seq >= this.floor; seq -= 1) {
      if (!this.bySeq.has(seq)) return seq;
    }
    return null;
  }
}

/** The message as the server serves a hidden one: its place and author, no content. */
function hiddenCopy(message) {
  return { ...message, content: "", hidden: true };
}
