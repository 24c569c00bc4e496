// The organisers speak in a room and hide messages, as two members see it (one on a desktop,
// one on a phone behind a network that drops): an announcement is marked as the organisers';
// a hidden message keeps its place with a neutral line instead of its content, live, after a
// reload (history serves it hidden), and for a member who was offline when it was hidden (the
// rejoin's `hidden_seqs`). Screenshots of such a room at both sizes.

import { DESKTOP, PHONE, announce, assert, createEvent, holderInRoom, moderate, startProxy, unique } from "../harness.mjs";

const HIDDEN = "Message hidden by the organisers";

export default async function announcements({ browser, defer }) {
  const event = await createEvent({ name: unique("Open air") });
  const network = await startProxy();
  defer(() => network.close());
  const alice = await holderInRoom(browser, event, { name: unique("alice"), viewport: DESKTOP });
  const bob = await holderInRoom(browser, event, { name: unique("bob"), viewport: PHONE, timezoneId: "America/New_York", baseURL: network.url });
  await bob.waitForText("#participant-count", "(2)");

  await alice.send("Is the main stage on the left?");
  await bob.waitForMessage("main stage on the left");

  // An announcement: marked as the organisers' (a badge with a word), signed with the actor.
  await announce(event.id, "Doors open at 19:00. Have your ticket ready at gate B.", { actor: "Festival staff" });
  for (const person of [alice, bob]) {
    await person.waitForMessage("Doors open at 19:00");
    const shown = (await person.messages()).find((m) => m.text.startsWith("Doors open"));
    assert.equal(shown.role, "organiser");
    assert.equal(shown.badge, "Organiser");
    assert.equal(shown.author, "Festival staff", "an announcement is nobody's own, and says who spoke");
    await person.waitForText("#messages .announcement", "Organiser");
  }

  // Bob posts something the organisers hide while both are in: gone for both at once.
  const spam = "Cheap tickets at example.invalid, DM me";
  await bob.send(spam);
  await alice.waitForMessage(spam);
  const stored = await alice.storedMessages(event.id);
  const spamMessage = stored.find((m) => m.content === spam);
  await moderate(event.id, "hide", { message_id: spamMessage.id, reason: "spam", actor: "Festival staff" });
  for (const person of [alice, bob]) {
    await person.page.locator(`#messages > li[data-seq="${spamMessage.seq}"][data-hidden="true"]`).waitFor();
    const shown = (await person.messages()).find((m) => m.seq === spamMessage.seq);
    assert.equal(shown.text, HIDDEN);
    assert.equal(shown.author, person === bob ? "You" : bob.username, "it keeps its place and its author");
    assert.ok(!(await person.page.textContent("body")).includes(spam), `${person.username}: the content is gone from the whole page`);
  }

  // Bob is offline when alice's question is hidden: his rejoin's reply says so, and the copy he
  // kept from before the cut loses its content too.
  const question = stored.find((m) => m.content === "Is the main stage on the left?");
  network.cut();
  await bob.waitForText("#connection", "Offline, reconnecting…");
  await moderate(event.id, "hide", { message_id: question.id });
  await alice.page.locator(`#messages > li[data-seq="${question.seq}"][data-hidden="true"]`).waitFor();
  assert.equal((await bob.messages()).find((m) => m.seq === question.seq).text, "Is the main stage on the left?");
  network.restore();
  await bob.waitForText("#connection", "Connected");
  await bob.page.locator(`#messages > li[data-seq="${question.seq}"][data-hidden="true"]`).waitFor();

  // A reload: history serves both hidden (no content), rendered the same.
  await alice.page.reload();
  await alice.waitJoined();
  await alice.waitForMessage("Doors open at 19:00");
  const reloaded = await alice.messages();
  assert.deepEqual(
    reloaded.map((m) => [m.seq, m.hidden, m.hidden ? m.text : null]),
    [
      [question.seq, true, HIDDEN],
      [question.seq + 1, false, null],
      [spamMessage.seq, true, HIDDEN],
    ],
  );
  assert.ok(!(await alice.page.textContent("body")).includes(spam));

  // A little more conversation, so the screenshots show a room.
  await bob.send("Thanks! See you at gate B");
  await alice.waitForMessage("See you at gate B");
  await alice.send("On my way");
  await bob.waitForMessage("On my way");
  await alice.screenshot("room-organisers-desktop");
  await bob.screenshot("room-organisers-phone");

  alice.assertClean();
  bob.assertClean();
}
