// The organisers remove a member, as both members see it: "Who's here" lists everyone admitted
// with whether they are online; the removed member is told why, in a sentence (and in a
// notification), and the page does not try to join the room again, not even when its
// connection drops and comes back (its own notifications channel rejoins, the room does not);
// a reload's join is refused with a sentence; the other member sees them leave, and "Who's
// here" no longer lists them. Reinstated, the member is notified and joins again from the
// notification.

import { PHONE, assert, createEvent, holderInRoom, moderate, startProxy, unique } from "../harness.mjs";

async function whoIsHere(person) {
  const dialog = person.page.locator("#people-dialog");
  await person.page.getByRole("button", { name: "Who's here" }).click();
  await dialog.waitFor();
  await person.page.locator("#people-loading").waitFor({ state: "hidden" });
  const summary = await person.text("#people-summary");
  const people = await person.page.$$eval("#people-list > li", (items) => items.map((item) => item.textContent));
  // Keyboard: Escape closes it.
  await person.page.keyboard.press("Escape");
  await dialog.waitFor({ state: "hidden" });
  return { summary, people };
}

export default async function removal({ browser, defer }) {
  const event = await createEvent({ name: unique("Matinee") });
  const network = await startProxy();
  defer(() => network.close());
  const carol = await holderInRoom(browser, event, { name: unique("carol") });
  const erin = await holderInRoom(browser, event, { name: unique("erin"), viewport: PHONE, baseURL: network.url });
  await carol.waitForText("#participant-count", "(2)");
  await erin.waitForText("#connection", "Connected (WebSocket)");

  assert.deepEqual(await whoIsHere(carol), {
    summary: "2 people have joined this chat; 2 online now.",
    people: [`${carol.username} (you) online now`, `${erin.username} online now`],
  });

  await erin.send("Selling spare tickets, cheap");
  await carol.waitForMessage("Selling spare tickets");

  const joins = erin.recordJoins();
  await moderate(event.id, "remove", { user_id: erin.userId, reason: "Reselling tickets" });
  await erin.waitForText("#join-message", `The organisers removed you from this chat. Their reason: “Reselling tickets”. You cannot join it again.`);
  await erin.waitForText("#notice", `The organisers removed you from the chat for ${event.name}: Reselling tickets`);
  assert.ok(await erin.page.locator("#notice-join").isHidden(), "nothing to join");
  assert.ok(await erin.page.locator("#room-body").isHidden(), "the room is closed to them");
  assert.ok(await erin.page.locator("#join-form").isHidden(), "no ticket form: a ticket does not help");
  await carol.waitForText("#participant-count", "(1)");
  await erin.screenshot("room-removed-phone");

  // The connection drops and comes back: the page's own channel rejoins, the room does not.
  network.cut();
  await erin.waitForText("#connection", "Offline, reconnecting…");
  network.restore();
  await erin.waitForText("#connection", "Connected");
  await joins.next((topic) => topic.startsWith("user:"));
  assert.deepEqual(joins.topics.filter((topic) => topic.startsWith("event:")), [], "no rejoin of the room");
  await erin.waitForText("#join-message", "The organisers removed you from this chat.");

  // A reload tries once, is refused, and says so.
  await erin.page.reload();
  await erin.waitForText("#join-message", "The organisers removed you from this chat, so you cannot join it again.");
  assert.ok(await erin.page.locator("#join-form").isHidden());
  assert.ok(await erin.page.locator("#room-body").isHidden());

  assert.deepEqual(await whoIsHere(carol), {
    summary: "1 person has joined this chat; 1 online now.",
    people: [`${carol.username} (you) online now`],
  });
  // The refused join was not tried again meanwhile.
  assert.equal(joins.topics.filter((topic) => topic.startsWith("event:")).length, 1, `joins sent: ${joins.topics}`);

  // Reinstated: told so, with a way back in, which works at once.
  await moderate(event.id, "reinstate", { user_id: erin.userId });
  await erin.waitForText("#notice", `The organisers let you back into the chat for ${event.name}`);
  await erin.waitForText("#join-message", "The organisers let you back into this chat.");
  await erin.screenshot("room-reinstated-phone");
  await erin.page.getByRole("button", { name: "Join again" }).click();
  await erin.waitJoined();
  await erin.waitForText("#participant-count", "(2)");
  await carol.waitForText("#participant-count", "(2)");
  assert.ok(await erin.page.locator("#notice").isHidden(), "the notice has done its job");
  await erin.send("Sorry about that");
  await carol.waitForMessage("Sorry about that");
  carol.assertClean();
  erin.assertClean();
}
