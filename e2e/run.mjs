// End-to-end tests of cookie mode in a real browser: the demo SPA in public/ against the Worker
// under `wrangler dev`, driven by Debian's chromium through playwright-core.
//
//   npm run test:e2e                     # wrangler dev on a free port, fresh local D1/KV
//   E2E_HEADED=1 / E2E_KEEP=1            # show the browser / keep the wrangler state dir
//   E2E_ONLY=csrf                        # only scenario files whose name contains this
//
// The runner starts the server (test-node/harness.mjs), two attacker pages and the browser, then
// runs each file in e2e/scenarios/ in name order; scenarios share one signed-in browser through
// `shared`, so each file starts where the previous one left off. Everything listens on and talks
// to 127.0.0.1 only (Chromium's "localhost" is loopback).
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { startAttackerServer } from './attacker-server.mjs';
import { browserKit, Runner, withTimeout } from './lib.mjs';
import { startServer } from '../test-node/harness.mjs';
import { freePort } from '../test-node/ports.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.join(here, 'out');
const SCENARIOS = path.join(here, 'scenarios');
const TTL = Number(process.env.E2E_ACCESS_TTL ?? 5); // access-token lifetime for this run, seconds
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOTAL_TIMEOUT_MS = Number(process.env.E2E_TIMEOUT_MS ?? 300_000);

/**
 * What a scenario file's default export receives.
 * @typedef {object} Scenario
 * @property {Runner['step']} step
 * @property {string[]} notes
 * @property {string} origin
 * @property {number} port
 * @property {string} persist the server's wrangler state directory (for `npm run user:create -- --persist-to`)
 * @property {number} ttl
 * @property {string} out
 * @property {string} crossSiteUrl
 * @property {string} sameSiteUrl
 * @property {ReturnType<typeof browserKit>} kit
 * @property {Record<string, any> & { username: string }} shared state handed from one scenario to the next
 */

const started = Date.now();
mkdirSync(OUT, { recursive: true });

/** @type {(() => Promise<void>)[]} cleanup actions, run last-in first-out */
const cleanups = [];
let cleaning = false;
async function cleanup() {
  if (cleaning) return;
  cleaning = true;
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      await withTimeout(fn(), 15_000, 'cleanup');
    } catch (err) {
      console.error(`cleanup: ${err instanceof Error ? err.message : err}`);
    }
  }
}
const watchdog = setTimeout(async () => {
  console.error(`\nE2E TIMEOUT after ${TOTAL_TIMEOUT_MS} ms: stopping everything`);
  await cleanup();
  process.exit(2);
}, TOTAL_TIMEOUT_MS);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    await cleanup();
    process.exit(130);
  });
}

const runner = new Runner();

async function main() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: apt-get update && apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }
  const files = readdirSync(SCENARIOS).filter((f) => f.endsWith('.mjs') && (!process.env.E2E_ONLY || f.includes(process.env.E2E_ONLY))).sort();
  if (files.length === 0) throw new Error(`no scenario in ${SCENARIOS} matches E2E_ONLY=${process.env.E2E_ONLY}`);

  /** @type {string} */
  let origin = '';
  let port = 0;
  let persist = '';
  await runner.step('server starts and answers /health', async () => {
    const logFile = path.join(OUT, 'wrangler.log');
    // The SPA's origin. Chromium treats http://localhost (and 127.0.0.1) as a secure context, so it
    // stores the Secure, __Host- and __Secure- cookies over plain http.
    const server = await startServer({
      logFile,
      varsFor: (p) => ({ ACCESS_TOKEN_TTL: String(TTL), CLOCK_LEEWAY: '0', JWT_ISSUER: `http://localhost:${p}`, ALLOWED_ORIGINS: `http://localhost:${p}` }),
      args: ['--log-level', 'info'],
      ...(process.env.E2E_KEEP ? { persist: path.join(OUT, `state-${Date.now()}`) } : {}),
    });
    cleanups.push(async () => {
      await server.stop();
      if (process.env.E2E_KEEP) console.log(`  (kept wrangler state in ${server.persist})`);
    });
    port = server.port;
    persist = server.persist;
    origin = `http://localhost:${port}`;
    console.log(`edge-auth e2e: origin=${origin} access-token TTL=${TTL}s, scenarios: ${files.join(', ')}`);
  }, { timeout: 180_000 });
  if (runner.aborted) return;

  // Two hostile pages: a different site (127.0.0.1 vs localhost: SameSite cookies stay home) and
  // the same site on another port (cookies ARE sent: only the CSRF check can stop it).
  const crossSite = await startAttackerServer({ target: origin });
  cleanups.push(() => crossSite.close());
  const sameSite = await startAttackerServer({ target: origin });
  cleanups.push(() => sameSite.close());

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: !process.env.E2E_HEADED,
    timeout: 30_000,
    args: [
      ...(process.env.E2E_HEADED ? [] : ['--headless']),
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  cleanups.push(() => browser.close());

  /** @type {Scenario} */
  const scenario = {
    step: runner.step.bind(runner),
    notes: runner.notes,
    origin,
    port,
    persist,
    ttl: TTL,
    out: OUT,
    crossSiteUrl: `http://127.0.0.1:${crossSite.port}/`,
    sameSiteUrl: `http://localhost:${sameSite.port}/`,
    kit: browserKit({ browser, origin, ttl: TTL, cleanups }),
    shared: { username: `e2e_${Date.now().toString(36)}` },
  };
  for (const file of files) {
    console.log(`${file}`);
    const { default: run } = await import(pathToFileURL(path.join(SCENARIOS, file)).href);
    await run(scenario);
  }
}

let exitCode = 0;
try {
  await main();
} catch (err) {
  console.log(`  ✘ setup: ${err instanceof Error ? err.stack ?? err.message : err}`);
  runner.results.push({ name: 'setup', status: 'fail', ms: 0 });
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
for (const note of runner.notes) console.log(`  note: ${note}`);
const passed = runner.results.filter((r) => r.status === 'pass').length;
const failed = runner.results.filter((r) => r.status === 'fail').length;
const skipped = runner.results.filter((r) => r.status === 'skip').length;
if (failed || skipped) exitCode = 1;
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
process.exit(exitCode);
