// Accounts and tickets: errors from the server as sentences (a wrong ticket number, a ticket
// needed, a ticket used by someone else, too many wrong numbers, wrong password, email taken,
// too many messages), a returning holder joining without a number, and signing out — here,
// and from elsewhere.

import { PASSWORD, PHONE, Person, assert, createEvent, createTicket, rest, unique } from "../harness.mjs";

export default async function account({ browser }) {
  const event = await createEvent({ name: unique("Match") });
  const ticket = await createTicket(event.id);

  const ivy = await Person.open(browser, { name: unique("ivy"), viewport: PHONE });
  await ivy.screenshot("sign-in-phone");
  await ivy.signUp();
  // First time, no number: asked for one.
  await ivy.joinFromList(event.name);
  await ivy.waitForText("#join-message", "Enter your ticket number to join this chat for the first time.");
  // A wrong number, typed in the room's own form.
  await ivy.page.locator("#join-ticket").fill("NOT-A-TICKET");
  await ivy.page.locator("#join-ticket").press("Enter");
  await ivy.waitForText("#join-message", "That ticket number is not valid for this event.");
  await ivy.screenshot("join-refused-phone");
  // The right one.
  await ivy.page.locator("#join-ticket").fill(ticket);
  await ivy.page.locator("#join-ticket").press("Enter");
  await ivy.waitJoined();
  await ivy.send("first!");
  await ivy.waitForMessage("first!");

  // Someone else with ivy's number.
  const jack = await Person.open(browser, { name: unique("jack") });
  await jack.signUp();
  await jack.joinFromList(event.name, ticket);
  // The service may say "ticket already used" or just "invalid ticket": either way a sentence.
  await jack.page.locator("#join-message").filter({ hasText: /already been used by someone else|not valid for this event/ }).waitFor();
  await jack.page.locator("#join-ticket").waitFor();
  // Guessing numbers: after a few wrong ones the service asks to wait, and the page says how long.
  const input = jack.page.locator("#join-ticket");
  for (let i = 2; i <= 5; i += 1) {
    const attempt = jack.page.waitForResponse((r) => r.url().endsWith(`/api/events/${event.id}`));
    await input.fill(`WRONG-${i}`);
    await input.press("Enter");
    await attempt; // the page said "Joining…" before asking: the next sentence is this attempt's
    await jack.waitForText("#join-message", "That ticket number is not valid for this event.");
  }
  await input.fill("WRONG-6");
  await input.press("Enter");
  await jack.page.locator("#join-message").filter({ hasText: /^Too many ticket numbers were tried\. Wait \d+ seconds?, then try again\.$/ }).waitFor();

  // Too many messages at once: refused with a sentence, the text is not lost.
  const sent = await ivy.page.evaluate(() => {
    const input = document.getElementById("composer-input");
    const form = document.getElementById("composer");
    for (let i = 1; i <= 30; i += 1) {
      input.value = `burst ${i}`;
      form.requestSubmit();
    }
    return 30;
  });
  await ivy.waitForText("#composer-error", "You are sending messages too quickly.");
  await ivy.page.waitForFunction(() => document.querySelectorAll("#pending > li").length === 0);
  const shown = (await ivy.messages()).filter((m) => m.text.startsWith("burst "));
  assert.ok(shown.length > 0 && shown.length < sent, `some of the burst were refused (${shown.length} shown)`);
  assert.match(await ivy.page.locator("#composer-input").inputValue(), /^burst \d+$/);

  // A returning holder: back to the list, "Join chat" with no number.
  await ivy.page.getByRole("link", { name: "All events" }).click();
  await ivy.joinFromList(event.name);
  await ivy.waitJoined();
  await ivy.waitForMessage("first!");

  // Signing out revokes the token and forgets it.
  const token = await ivy.page.evaluate(() => JSON.parse(sessionStorage.getItem("ticket-chat:session")).token);
  await ivy.page.getByRole("button", { name: "Sign out" }).click();
  await ivy.waitForText("#auth-error", "You have signed out.");
  assert.equal(await ivy.page.evaluate(() => sessionStorage.getItem("ticket-chat:session")), null);
  await rest("GET", `/api/users/${ivy.userId}`, { token, expected: 401 });

  // Signing in: a wrong password, then the right one; the same email cannot sign up twice.
  await ivy.signIn({ password: `${PASSWORD}!` });
  await ivy.waitForText("#auth-error", "Wrong email or password.");
  await ivy.signIn();
  await ivy.page.locator("#events-view").waitFor();
  const twin = await Person.open(browser, { name: ivy.username });
  await twin.page.getByRole("button", { name: "Create an account" }).click();
  await twin.page.getByLabel("Name shown in chats").fill(unique("twin"));
  await twin.page.locator("#sign-up-email").fill(ivy.email);
  await twin.page.locator("#sign-up-password").fill(PASSWORD);
  await twin.page.locator("#sign-up-password").press("Enter");
  await twin.waitForText("#auth-error", "Email has already been taken.");

  // Someone trying passwords on Ivy's account is held back, and told how long to wait.
  await twin.page.locator("#show-sign-in").click();
  let refusal = "";
  for (let attempt = 1; attempt <= 12 && !refusal.startsWith("Too many attempts"); attempt += 1) {
    await twin.page.evaluate(() => { document.querySelector("#auth-error").textContent = ""; });
    await twin.page.locator("#sign-in-email").fill(ivy.email);
    await twin.page.locator("#sign-in-password").fill(`guess ${attempt}`);
    await twin.page.locator("#sign-in-password").press("Enter");
    await twin.page.waitForFunction(() => document.querySelector("#auth-error").textContent !== "");
    refusal = await twin.page.locator("#auth-error").textContent();
    if (!refusal.startsWith("Too many attempts")) assert.equal(refusal, "Wrong email or password.");
  }
  assert.match(refusal, /^Too many attempts\. Wait \d+ seconds?, then try again\.$/);

  // Signed out from elsewhere (another device revokes this token): the page notices.
  const second = await ivy.page.evaluate(() => JSON.parse(sessionStorage.getItem("ticket-chat:session")).token);
  await rest("POST", "/api/users/sign_out", { token: second, expected: 204 });
  await ivy.waitForText("#auth-error", "Your session has ended. Please sign in again.");

  for (const person of [ivy, jack, twin]) person.assertClean();
}
