// Runs the browser scenarios (scenarios/<name>.mjs) in headless Chromium against the service at
// CHAT_URL.
//
//   node run.mjs <name>   one scenario; exit status 0 when it passed, the failure printed if not
//   node run.mjs --serve  for the pytest side: one Chromium for many scenarios; reads a name per
//                         line on stdin and answers each with one JSON line on stdout,
//                         {"scenario", "ok", "error"}; exits when stdin closes
//
// Every scenario is bounded by SCENARIO_LIMIT_MS (each wait inside has its own, shorter bound);
// one that overruns it is reported and ends the process, since its browser state is unknown.

import readline from "node:readline";
import { launchChromium, runScenario } from "./harness.mjs";

const SCENARIO_LIMIT_MS = 120_000;

async function runNamed(name, browser) {
  if (!/^[a-z_]+$/.test(name)) throw new Error(`not a scenario name: ${JSON.stringify(name)}`);
  const { default: scenario } = await import(`./scenarios/${name}.mjs`);
  let timer;
  const overrun = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Overrun(`scenario ${name} did not finish within ${SCENARIO_LIMIT_MS / 1000} s`)), SCENARIO_LIMIT_MS);
  });
  try {
    await Promise.race([runScenario(scenario, browser), overrun]);
  } finally {
    clearTimeout(timer);
  }
}

class Overrun extends Error {}

function describe(error) {
  return error && error.stack ? error.stack : String(error);
}

const browser = await launchChromium();
if (process.argv[2] === "--serve") {
  const input = readline.createInterface({ input: process.stdin });
  for await (const line of input) {
    const name = line.trim();
    if (!name) continue;
    try {
      await runNamed(name, browser);
      process.stdout.write(`${JSON.stringify({ scenario: name, ok: true })}\n`);
    } catch (error) {
      process.stdout.write(`${JSON.stringify({ scenario: name, ok: false, error: describe(error) })}\n`);
      if (error instanceof Overrun) process.exit(1);
    }
  }
  await browser.close();
} else {
  const name = process.argv[2];
  try {
    await runNamed(name || "", browser);
    console.log(`scenario ${name}: passed`);
  } catch (error) {
    console.error(`scenario ${name}: FAILED\n${describe(error)}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
  process.exit();
}
