// A long cut: more messages are posted than a rejoin's reply carries (it says `more`), so the
// page pages back over the gap and still shows each message once, in order. Then a newcomer
// scrolls back through the whole history.

import { assert, botInRoom, createEvent, holderInRoom, startProxy, unique } from "../harness.mjs";

const BOTS = 22;
const PER_BOT = 10; // within the per-user burst, so nobody waits for the rate limit

export default async function catchUp({ browser, defer }) {
  const event = await createEvent({ name: unique("Crowd") });
  const network = await startProxy();
  defer(() => network.close());
  const bots = await Promise.all(Array.from({ length: BOTS }, () => botInRoom(event)));
  defer(() => bots.forEach((bot) => bot.close()));
  const carol = await holderInRoom(browser, event, { name: unique("carol"), baseURL: network.url });

  for (let i = 1; i <= 3; i += 1) await bots[0].post(`warm-up ${i}`);
  await carol.waitForMessageCount(3);

  network.cut();
  await carol.waitForText("#connection", "Offline, reconnecting…");
  await Promise.all(
    bots.slice(1).map(async (bot, b) => {
      for (let i = 1; i <= PER_BOT; i += 1) await bot.post(`bot ${b + 1} says ${i}`);
    }),
  );
  const total = 3 + (BOTS - 1) * PER_BOT; // 213: more than the 200 a rejoin reply holds
  network.restore();
  await carol.waitForText("#connection", "Connected");
  await carol.waitForMessageCount(total);
  const seen = await carol.messages();
  assert.deepEqual(seen.map((m) => m.seq), Array.from({ length: total }, (_, i) => i + 1));
  await carol.waitForText("#history-start", "beginning of the chat");

  // A newcomer gets the latest 50 and scrolls back, a page at a time, to the first message.
  const dave = await holderInRoom(browser, event, { name: unique("dave") });
  await dave.waitForMessageCount(50);
  assert.equal((await dave.messages()).length, 50);
  const older = dave.page.getByRole("button", { name: "Show earlier messages" });
  while ((await dave.messages()).length < total) {
    const before = (await dave.messages()).length;
    await older.waitFor();
    await older.focus();
    await dave.page.keyboard.press("Enter");
    await dave.waitForMessageCount(before + 1);
  }
  await dave.waitForText("#history-start", "beginning of the chat");
  const all = await dave.messages();
  assert.deepEqual(all.map((m) => m.seq), Array.from({ length: total }, (_, i) => i + 1));
  assert.equal(all[0].text, "warm-up 1");
  carol.assertClean();
  dave.assertClean();
}
