// WebSockets refused on the way (a proxy that does not pass them): the page falls back to
// LongPoll and the chat works the same, both ways. A reload keeps the session (the token is in
// sessionStorage) and, on the room's address, rejoins as a returning holder.

import { assert, createEvent, holderInRoom, startProxy, unique } from "../harness.mjs";

export default async function longpoll({ browser, defer }) {
  const event = await createEvent({ name: unique("Proxy") });
  const network = await startProxy({ refuseWebSockets: true });
  defer(() => network.close());
  const erin = await holderInRoom(browser, event, { name: unique("erin"), baseURL: network.url });
  const frank = await holderInRoom(browser, event, { name: unique("frank") });
  await erin.waitForText("#connection", "Connected (long polling)");
  await frank.waitForText("#connection", "Connected (WebSocket)");

  for (const person of [erin, frank]) await person.waitForText("#participant-count", "(2)");
  await erin.page.locator("#composer-input").focus();
  await erin.page.keyboard.type("typing through a proxy");
  await frank.waitForText("#typing", `${erin.username} is typing…`);
  await erin.page.keyboard.press("Enter");
  await frank.waitForMessage("typing through a proxy");
  await frank.send("received over WebSocket");
  await erin.waitForMessage("received over WebSocket");

  await erin.page.reload();
  await erin.waitJoined();
  await erin.waitForText("#connection", "Connected (long polling)");
  await erin.waitForMessageCount(2);
  assert.deepEqual((await erin.messages()).map((m) => m.text), ["typing through a proxy", "received over WebSocket"]);
  await erin.send("still here after a reload");
  await frank.waitForMessage("still here after a reload");
  erin.assertClean();
  frank.assertClean();
}
