// /api/docs renders every operation of /api/openapi.json; the pages carry a CSP that forbids
// inline script, and have none.

import { BASE_URL, DESKTOP, assert, rest, screenshotPath } from "../harness.mjs";

export default async function docs({ browser }) {
  const context = await browser.newContext({ viewport: DESKTOP, baseURL: BASE_URL });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));

  const response = await page.goto("/api/docs");
  const csp = response.headers()["content-security-policy"];
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);

  const document = await rest("GET", "/api/openapi.json", { expected: 200 });
  const operations = Object.entries(document.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
  await page.locator("section.operation[id^='op-']").first().waitFor();
  const shown = await page.$$eval("section.operation[id^='op-']", (sections) => sections.map((s) => s.getAttribute("aria-label")));
  assert.deepEqual(shown.sort(), operations.sort());
  await page.getByRole("heading", { name: /Ticket chat REST API/ }).waitFor();
  await page.locator("#op-sign_in").getByText("SignInRequest").waitFor();
  await page.screenshot({ path: screenshotPath("api-docs-desktop") });

  for (const path of ["/", "/api/docs"]) {
    await page.goto(path);
    assert.equal(await page.locator("script:not([src])").count(), 0, `${path} has no inline script`);
  }
  assert.deepEqual(errors, []);
  await context.close();
}
