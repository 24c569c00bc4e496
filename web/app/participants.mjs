// "Who's here": everyone admitted to a room, online or not, from the REST API
// (`GET /api/events/:id/participants`), a page at a time, without any DOM. The pages follow
// the order in which people first joined, and the cursor is a position in that order, so
// reading on while people keep joining neither repeats nor skips anyone.

export const PARTICIPANTS_PAGE = 50;

export class ParticipantPages {
  /** `fetchPage(after)` → the REST answer: `{data, total, online_count, next_cursor}`. */
  constructor(fetchPage) {
    this.fetchPage = fetchPage;
    /** {id, username, online, joinedAt} in the order they joined. */
    this.people = [];
    this.total = null;
    this.onlineCount = null;
    this.cursor = null;
    this.done = false;
    this.loading = false;
  }

  get hasMore() {
    return !this.done;
  }

  /** Read the next page; returns the people it added. */
  async more() {
    if (this.loading || this.done) return [];
    this.loading = true;
    try {
      const page = (await this.fetchPage(this.cursor)) || {};
      const seen = new Set(this.people.map((person) => person.id));
      const added = [];
      for (const item of Array.isArray(page.data) ? page.data : []) {
        if (!item || typeof item.user_id !== "string" || seen.has(item.user_id)) continue;
        seen.add(item.user_id);
        added.push({
          id: item.user_id,
          username: String(item.username || "Someone"),
          online: item.online === true,
          joinedAt: item.joined_at,
        });
      }
      this.people.push(...added);
      if (Number.isInteger(page.total)) this.total = page.total;
      if (Number.isInteger(page.online_count)) this.onlineCount = page.online_count;
      this.cursor = typeof page.next_cursor === "string" && page.next_cursor ? page.next_cursor : null;
      this.done = this.cursor === null;
      return added;
    } finally {
      this.loading = false;
    }
  }
}
