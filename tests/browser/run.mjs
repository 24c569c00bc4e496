// `node run.mjs <scenario>`: run scenarios/<scenario>.mjs in headless Chromium against the
// service at CHAT_URL. Exit status 0 when it passed; the failure is printed otherwise.

import { runScenario } from "./harness.mjs";

const SCENARIO_LIMIT_MS = 120_000;

const name = process.argv[2];
if (!name || !/^[a-z_]+$/.test(name)) {
  console.error("usage: node run.mjs <scenario name>");
  process.exit(2);
}
const { default: scenario } = await import(`./scenarios/${name}.mjs`);
// Bounds a hung scenario (every wait inside has its own, shorter, bound).
const guard = setTimeout(() => {
  console.error(`scenario ${name} did not finish within ${SCENARIO_LIMIT_MS / 1000} s`);
  process.exit(1);
}, SCENARIO_LIMIT_MS);
try {
  await runScenario(scenario);
  console.log(`scenario ${name}: passed`);
  clearTimeout(guard);
} catch (error) {
  console.error(`scenario ${name}: FAILED\n${error && error.stack ? error.stack : error}`);
  process.exit(1);
}
