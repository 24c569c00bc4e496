// The organisers mute a member and slow the room down, as the members see it: the muted member
// is told until when (in their own time zone), in the composer too, and a post is refused by
// the service with that time, the text kept; a reload still says so (the join reply); lifting
// the mute clears it, and a short mute ends by itself when its time comes. Slow mode is told to
// everyone, a quick second post is refused with how long to wait, and turning it off clears it.

import { PHONE, assert, createEvent, holderInRoom, moderate, unique } from "../harness.mjs";

const SHORT_MUTE_SECONDS = 2;

function clock(serverTime, timeZone) {
  return new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone }).format(new Date(`${serverTime}Z`));
}

export default async function muteAndSlowMode({ browser }) {
  const event = await createEvent({ name: unique("Club night") });
  const dave = await holderInRoom(browser, event, { name: unique("dave"), viewport: PHONE, timezoneId: "Asia/Tokyo" });
  const erin = await holderInRoom(browser, event, { name: unique("erin"), timezoneId: "Europe/Berlin" });
  await dave.send("first!");
  await erin.waitForMessage("first!");

  // Muted for ten minutes.
  const answer = await moderate(event.id, "mute", { user_id: dave.userId, duration_seconds: 600, reason: "flooding" });
  const until = answer.moderation.mutes.find((m) => m.user_id === dave.userId).until;
  const untilHere = clock(until, dave.timezoneId);
  await dave.waitForText("#composer-rules", `The organisers muted you until ${untilHere}`);
  assert.equal(await dave.page.locator("#composer-input").getAttribute("placeholder"), `Muted until ${untilHere}`);
  await dave.screenshot("room-muted-phone");

  // A post is refused by the service, with the time; the text goes back into the composer.
  await dave.send("can anyone hear me?");
  await dave.waitForText("#composer-error", `The organisers muted you until ${untilHere}, so the message was not sent.`);
  assert.equal(await dave.page.locator("#composer-input").inputValue(), "can anyone hear me?");

  // A reload: the join reply says the member is muted.
  await dave.page.reload();
  await dave.waitJoined();
  await dave.waitForText("#composer-rules", `The organisers muted you until ${untilHere}`);

  // Lifted: the sentence goes, the post goes through.
  await moderate(event.id, "unmute", { user_id: dave.userId });
  await dave.page.locator('#composer-rules [data-rule="muted"]').waitFor({ state: "detached" });
  assert.equal(await dave.page.locator("#composer-input").getAttribute("placeholder"), "Write a message");
  await dave.send("can anyone hear me?");
  await erin.waitForMessage("can anyone hear me?");

  // A short mute ends by itself, on the clock (the service sends nothing then).
  await moderate(event.id, "mute", { user_id: dave.userId, duration_seconds: SHORT_MUTE_SECONDS });
  await dave.page.locator('#composer-rules [data-rule="muted"]').waitFor();
  await dave.page.locator('#composer-rules [data-rule="muted"]').waitFor({ state: "detached" });
  await dave.send("back again");
  await erin.waitForMessage("back again");

  // Slow mode, for everyone.
  await moderate(event.id, "slow_mode", { seconds: 30 });
  for (const person of [dave, erin]) {
    await person.waitForText("#composer-rules", "Slow mode: one message every 30 seconds.");
  }
  await erin.send("one message");
  await dave.waitForMessage("one message");
  await erin.send("and another, too soon");
  await erin.waitForText("#composer-error", "Slow mode: wait ");
  const refusal = await erin.text("#composer-error");
  const wait = Number(/^Slow mode: wait (\d+) seconds? before sending another message\.$/.exec(refusal)?.[1]);
  assert.ok(wait >= 1 && wait <= 30, `a wait within the interval: ${refusal}`);
  assert.equal(await erin.page.locator("#composer-input").inputValue(), "and another, too soon");

  // Joining says it too (the join reply's room.slow_mode_seconds).
  await dave.page.reload();
  await dave.waitJoined();
  await dave.waitForText("#composer-rules", "Slow mode: one message every 30 seconds.");

  await moderate(event.id, "slow_mode", { seconds: 0 });
  for (const person of [dave, erin]) {
    await person.page.locator('#composer-rules [data-rule="slow-mode"]').waitFor({ state: "detached" });
  }
  assert.ok(!(await erin.messages()).some((m) => m.text === "and another, too soon"), "the refused post was not stored");
  dave.assertClean();
  erin.assertClean();
}
