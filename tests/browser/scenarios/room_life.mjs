// A room's life as its holders see it, with events timed a few seconds ahead (the service's
// own scheduler, on the real clock, takes the steps): not open yet, with the opening time in
// each viewer's time zone; opening, with its notification; archived and read-only at the end.

import { PHONE, ROOM_LEAD_MS, assert, createEvent, holderInRoom, serviceTime, unique, updateEvent } from "../harness.mjs";

const HOUR = 3_600_000;
const SOON_MS = 3_000;

export default async function roomLife({ browser }) {
  const name = unique("Festival");
  const start = Date.now() + 30 * HOUR;
  const event = await createEvent({ name, start, end: start + 3 * HOUR });
  const gina = await holderInRoom(browser, event, { name: unique("gina"), timezoneId: "Asia/Tokyo", viewport: PHONE });
  const hank = await holderInRoom(browser, event, { name: unique("hank"), timezoneId: "America/Los_Angeles" });

  const opensAt = new Date(Math.floor(start / 1000) * 1000 - ROOM_LEAD_MS).toISOString();
  for (const person of [gina, hank]) {
    await person.waitForText("#room-status", "Not open yet");
    assert.equal(await person.page.locator("#room-status time").getAttribute("datetime"), opensAt);
    const expected = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: person.timezoneId }).format(new Date(opensAt));
    assert.match(await person.text("#room-status"), new RegExp(expected));
    assert.ok(await person.page.locator("#composer-input").isDisabled(), "no writing before the opening");
    await person.waitForText("#composer-hint", "once the chat opens");
    // Members see each other before the room opens.
    await person.waitForText("#participant-count", "(2)");
  }

  await gina.screenshot("room-not-open-phone");

  // Move the event so that its room opens in a few seconds.
  const soon = Date.now() + ROOM_LEAD_MS + SOON_MS;
  await updateEvent(event.id, { start_time: serviceTime(soon), end_time: serviceTime(soon + 3 * HOUR) });
  for (const person of [gina, hank]) {
    await person.waitForText("#room-status", "Open");
    await person.waitForText("#notice", `The chat for ${name} is open`);
    assert.ok(await person.page.locator("#composer-input").isEnabled());
  }
  await gina.send("We are in!");
  await hank.waitForMessage("We are in!");

  // The notification is listed until it is marked read.
  await hank.page.getByRole("button", { name: /Notifications/ }).click();
  const item = hank.page.locator("#notifications-list > li", { hasText: `The chat for ${name} is open` });
  await item.waitFor();
  await item.getByRole("button", { name: "Mark as read" }).click();
  await item.waitFor({ state: "detached" });

  // The event ends in a few seconds: archived, read-only, history kept.
  await updateEvent(event.id, { start_time: serviceTime(Date.now() - HOUR), end_time: serviceTime(Date.now() + SOON_MS) });
  for (const person of [gina, hank]) {
    await person.waitForText("#room-status", "Archived");
    assert.ok(await person.page.locator("#composer-input").isDisabled(), "read-only once archived");
    await person.waitForText("#composer-hint", "archived");
    assert.deepEqual((await person.messages()).map((m) => m.text), ["We are in!"]);
  }
  await hank.screenshot("room-archived-desktop");
  gina.assertClean();
  hank.assertClean();
}
