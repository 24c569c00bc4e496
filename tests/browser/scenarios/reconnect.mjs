// A holder's connection goes wrong in the two ways a phone's does, and nothing is lost or
// shown twice:
// * a send whose answer is lost: the service stored it (the other holder sees it), the page
//   says "Not sent" after its send timeout and, once reconnected, sends it again with the same
//   client_id; it is still there once;
// * the network drops while the other holder keeps posting and this one writes a message: when
//   it is back the page rejoins with `after_seq`, shows every missed message once and in
//   order, and delivers the message written offline once.

import { assert, createEvent, holderInRoom, startProxy, unique } from "../harness.mjs";

export default async function reconnect({ browser, defer }) {
  const event = await createEvent({ name: unique("Cut") });
  const network = await startProxy();
  defer(() => network.close());
  const alice = await holderInRoom(browser, event, { name: unique("alice") });
  const bob = await holderInRoom(browser, event, { name: unique("bob"), baseURL: network.url });
  await bob.waitForText("#connection", "Connected (WebSocket)");
  await bob.waitForText("#participant-count", "(2)");

  await alice.send("before the cut, 1");
  await alice.send("before the cut, 2");
  await bob.waitForMessageCount(2);

  // The answers stop coming back: bob's message reaches the service, its reply does not.
  network.muffle();
  await bob.send("the reply to this one is lost");
  await alice.waitForMessage("the reply to this one is lost");
  await bob.waitForText("#pending", "Not sent");

  // Then the network drops altogether.
  network.cut();
  await bob.waitForText("#connection", "Offline, reconnecting…");
  await bob.send("written while offline");
  await bob.waitForText("#pending", "Sending…");
  for (let i = 1; i <= 5; i += 1) await alice.send(`while bob is away, ${i}`);
  await alice.waitForMessageCount(8);
  assert.equal((await bob.messages()).length, 2, "nothing gets through the cut");

  network.restore();
  await bob.waitForText("#connection", "Connected");
  await alice.waitForMessage("written while offline");
  await bob.waitForMessageCount(9);
  await bob.page.locator("#pending > li").first().waitFor({ state: "detached" });
  assert.equal(await bob.page.locator("#pending > li").count(), 0);

  await alice.send("welcome back");
  await bob.waitForMessage("welcome back");

  const expected = [
    "before the cut, 1",
    "before the cut, 2",
    "the reply to this one is lost",
    ...[1, 2, 3, 4, 5].map((i) => `while bob is away, ${i}`),
    "written while offline",
    "welcome back",
  ];
  for (const person of [alice, bob]) {
    const messages = await person.messages();
    assert.deepEqual(messages.map((m) => m.text), expected, `${person.username} sees each message once, in order`);
    assert.deepEqual(messages.map((m) => m.seq), expected.map((_, i) => i + 1));
  }
  alice.assertClean();
  bob.assertClean();
}
