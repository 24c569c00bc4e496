// A big room, made small: the service runs with PRESENCE_LIST_LIMIT=2, so three members online
// are too many to list. Two members see each other listed; when a third comes in, everyone's
// panel shows how many are online and their own entry, and the count follows the room (fifty
// more come and go). "Who's here" pages through everyone admitted. When the room has shrunk to
// half the limit it lists again.

import { PHONE, assert, botInRoom, createEvent, holderInRoom, unique } from "../harness.mjs";

const BOTS = 50; // the first page of "Who's here" holds 50: these make a second one
const BOTS_AT_ONCE = 10;

async function listed(person) {
  return person.page.$$eval("#participants > li", (items) => items.map((item) => item.textContent));
}

export default async function bigRoom({ browser, defer }) {
  const event = await createEvent({ name: unique("Stadium") });
  const fay = await holderInRoom(browser, event, { name: unique("fay") });
  const gus = await holderInRoom(browser, event, { name: unique("gus"), viewport: PHONE });
  for (const person of [fay, gus]) {
    await person.waitForText("#participant-count", "(2)");
    await person.page.locator('#participants[data-mode="list"]').waitFor();
  }
  assert.deepEqual(await listed(fay), [`${fay.username} (you)`, gus.username]);

  // A third: the room counts instead of listing.
  const hal = await holderInRoom(browser, event, { name: unique("hal") });
  for (const person of [fay, gus, hal]) {
    await person.page.locator('#participants[data-mode="count"]').waitFor();
    await person.waitForText("#participant-count", "(3)");
    await person.waitForText("#participants", "and 2 others");
    assert.deepEqual(await listed(person), [`${person.username} (you)`, "and 2 others"]);
  }
  await gus.screenshot("room-count-phone");

  // Fifty more come in (the count follows) and go (they stay admitted, offline).
  const bots = [];
  defer(() => bots.forEach((bot) => bot.close()));
  while (bots.length < BOTS) {
    bots.push(...(await Promise.all(Array.from({ length: BOTS_AT_ONCE }, () => botInRoom(event)))));
  }
  await fay.waitForText("#participant-count", `(${BOTS + 3})`);
  await fay.waitForText("#participants", `and ${BOTS + 2} others`);
  for (const bot of bots) bot.leave();
  await fay.waitForText("#participant-count", "(3)");

  // "Who's here": a page of 50, then the rest with the keyboard.
  await fay.page.getByRole("button", { name: "Who's here" }).click();
  await fay.waitForText("#people-summary", `${BOTS + 3} people have joined this chat; 3 online now.`);
  await fay.page.waitForFunction(() => document.querySelectorAll("#people-list > li").length === 50);
  const more = fay.page.getByRole("button", { name: "Show more" });
  await more.focus();
  await fay.page.keyboard.press("Enter");
  await fay.page.waitForFunction((n) => document.querySelectorAll("#people-list > li").length === n, BOTS + 3);
  await more.waitFor({ state: "hidden" });
  const everyone = await fay.page.$$eval("#people-list > li", (items) => items.map((item) => item.textContent));
  assert.deepEqual(everyone.slice(0, 3), [`${fay.username} (you) online now`, `${gus.username} online now`, `${hal.username} online now`]);
  assert.ok(everyone.slice(3).every((line) => line.endsWith("not online")), "the bots left");
  assert.equal(new Set(everyone).size, everyone.length, "nobody twice");
  assert.equal(await fay.page.evaluate(() => document.activeElement.textContent), everyone[50], "the focus goes on to the first name added");
  await fay.screenshot("who-is-here-desktop");
  await fay.page.keyboard.press("Escape");
  await fay.page.locator("#people-dialog").waitFor({ state: "hidden" });
  await gus.page.getByRole("button", { name: "Who's here" }).click();
  await gus.waitForText("#people-summary", `${BOTS + 3} people have joined this chat`);
  await gus.screenshot("who-is-here-phone");
  await gus.page.getByRole("button", { name: "Close" }).click();
  await gus.page.locator("#people-dialog").waitFor({ state: "hidden" });

  // Members leave: still counted at two, listed again at one (half the limit).
  await hal.page.getByRole("link", { name: "All events" }).click();
  await fay.waitForText("#participant-count", "(2)");
  await fay.waitForText("#participants", "and 1 other");
  await gus.page.getByRole("link", { name: "All events" }).click();
  await fay.page.locator('#participants[data-mode="list"]').waitFor();
  await fay.waitForText("#participant-count", "(1)");
  assert.deepEqual(await listed(fay), [`${fay.username} (you)`]);

  fay.assertClean();
  gus.assertClean();
  hal.assertClean();
}
