// Two ticket holders, each in their own browser (one desktop in Istanbul, one phone in New
// York), join one room, see each other in the participants and typing, and chat. Markup in a
// message stays text and runs nothing. Screenshots of the room at both sizes.

import { DESKTOP, PHONE, assert, createEvent, createTicket, holderInRoom } from "../harness.mjs";

export default async function chat({ browser }) {
  const event = await createEvent({ name: "Rooftop concert" });
  const alice = await holderInRoom(browser, event, { name: "alice", viewport: DESKTOP, timezoneId: "Europe/Istanbul" });
  const bob = await holderInRoom(browser, event, { name: "bob", viewport: PHONE, timezoneId: "America/New_York" });

  // The status, the connection, and who is here.
  for (const person of [alice, bob]) {
    await person.waitForText("#room-status", "Open");
    await person.waitForText("#connection", "Connected (WebSocket)");
    await person.waitForText("#participant-count", "(2)");
    await person.waitForText("#participants", "alice");
    await person.waitForText("#participants", "bob");
  }
  assert.match(await alice.text("#participants"), /alice \(you\)/);
  assert.match(await alice.text("#room-title"), /Rooftop concert/);

  // Keyboard only: the join put the focus in the composer; typing shows on the other side.
  assert.equal(await alice.page.evaluate(() => document.activeElement.id), "composer-input");
  await alice.page.keyboard.type("Hello from the front row");
  await bob.waitForText("#typing", "alice is typing…");
  await alice.page.keyboard.press("Enter");
  await bob.waitForMessage("Hello from the front row");
  await alice.waitForMessage("Hello from the front row");
  assert.equal(await alice.page.locator("#composer-input").inputValue(), "", "the composer is emptied");

  // Bob answers on two lines (Shift+Enter), and the typing line goes once the message is in.
  await bob.send("Hi alice!\nSee you at the bar");
  await alice.waitForMessage("See you at the bar");
  await alice.page.waitForFunction(() => document.querySelector("#typing").textContent === "");

  // Markup is text: shown verbatim, no element made from it, nothing runs.
  const attack = "<img src=x onerror=alert(1)> <script>alert(2)</script>";
  await alice.send(attack);
  await bob.waitForMessage("<img src=x onerror=alert(1)>");

  for (const [person, other] of [[alice, "bob"], [bob, "alice"]]) {
    const messages = await person.messages();
    assert.deepEqual(messages.map((m) => m.text), ["Hello from the front row", "Hi alice!\nSee you at the bar", attack]);
    assert.deepEqual(messages.map((m) => m.seq), [1, 2, 3]);
    // Your own messages say "You"; the others' their author.
    assert.deepEqual(messages.map((m) => m.author), person === alice ? ["You", other, "You"] : [other, "You", other]);
    assert.equal(await person.page.locator("#messages img, #messages script").count(), 0);
    // Times in the viewer's own time zone.
    for (const message of messages) {
      const expected = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: person.timezoneId }).format(new Date(message.datetime));
      assert.ok(message.time.includes(expected), `${person.username} sees ${message.time}, expected ${expected} in ${person.timezoneId}`);
    }
  }

  // A few more lines, so the screenshots show a conversation.
  await bob.send("Which gate are you at?");
  await alice.waitForMessage("Which gate are you at?");
  await alice.send("Gate B, next to the food trucks");
  await bob.waitForMessage("next to the food trucks");
  await bob.page.locator("#composer-input").focus();
  await bob.page.keyboard.type("On my way");
  await alice.waitForText("#typing", "bob is typing…");
  await alice.screenshot("room-desktop");
  await bob.screenshot("room-phone");

  // The events list, at both sizes, for the reader too.
  const other = await createEvent({ name: "Jazz night", start: Date.now() + 30 * 3_600_000, end: Date.now() + 33 * 3_600_000, location: "Izmir" });
  await createTicket(other.id);
  for (const [person, size] of [[alice, "desktop"], [bob, "phone"]]) {
    await person.page.getByRole("link", { name: "All events" }).click();
    await person.card("Jazz night").waitFor();
    await person.screenshot(`events-${size}`);
  }

  alice.assertClean();
  bob.assertClean();
}
