// Browser scenario for the gateway (issue 13): the demo SPA's Notes panel, in a real Chromium, in
// cookie mode, through edge-auth's gateway to the example origin (examples/origin); then
// cross-site and same-site attacker pages POST to the proxied route, and the origin's own request
// log shows those requests never arrived.
//
//   node e2e/gateway.mjs         (part of npm run test:e2e)   E2E_HEADED=1 shows the browser
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startOrigin } from '../examples/origin/server.mjs';
import { startServer } from '../test-node/harness.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOTAL_TIMEOUT_MS = Number(process.env.E2E_TIMEOUT_MS ?? 240_000);
const STEP_TIMEOUT_MS = 45_000;
const PASSWORD = 'correct horse battery staple 42';

const cleanups = [];
const results = [];
let aborted = false;
const started = Date.now();

async function cleanup() {
  while (cleanups.length) {
    try {
      await Promise.race([cleanups.pop()(), new Promise((resolve) => setTimeout(resolve, 15_000))]);
    } catch (err) {
      console.error(`cleanup: ${err instanceof Error ? err.message : err}`);
    }
  }
}
const watchdog = setTimeout(async () => {
  console.error(`\nE2E (gateway) TIMEOUT after ${TOTAL_TIMEOUT_MS} ms: stopping everything`);
  await cleanup();
  process.exit(2);
}, TOTAL_TIMEOUT_MS);

async function step(name, fn, timeout = STEP_TIMEOUT_MS) {
  if (aborted) {
    results.push('skip');
    console.log(`  - ${name} (skipped)`);
    return;
  }
  const t0 = Date.now();
  let timer;
  try {
    await Promise.race([fn(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${timeout} ms`)), timeout)))]);
    results.push('pass');
    console.log(`  ✔ ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    results.push('fail');
    aborted = true;
    console.log(`  ✘ ${name} (${Date.now() - t0} ms)`);
    console.log(String(err instanceof Error ? err.stack ?? err.message : err).replace(/^/gm, '      '));
  } finally {
    clearTimeout(timer);
  }
}

/** A hostile page whose script POSTs a note to the proxied route (no-cors, so no preflight). */
async function attackerPage(target) {
  const html = `<!doctype html><meta charset="utf-8"><title>Free stuff</title><script>
    window.attack = async () => {
      const out = {};
      for (const [name, init] of [
        ['no-cors json', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'Content-Type': 'text/plain' }, body: '{"text":"planted by attacker"}' }],
        ['cors with guessed csrf', { method: 'POST', mode: 'cors', credentials: 'include', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': 'guess' }, body: '{"text":"planted by attacker"}' }],
      ]) {
        try { const r = await fetch(${JSON.stringify(target)} + '/app-api/notes?attack=1', init); out[name] = r.type + ' ' + r.status; }
        catch (e) { out[name] = 'error ' + e; }
      }
      return out;
    };
  </script>`;
  const server = http.createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end(html));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  return server.address().port;
}

async function main() {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found (apt-get install -y chromium, or set CHROMIUM_PATH)`);
  let origin;
  let site = ''; // the SPA's origin, http://localhost:<port>, known once the server has a port
  await step('example origin and wrangler dev start; the gateway table points at the origin', async () => {
    let dev;
    origin = await startOrigin({ port: 0, edgeAuth: () => dev.base, issuer: () => site, quiet: true });
    cleanups.push(() => origin.close());
    const routes = [{ path: '/app-api/*', upstream: origin.url, strip_prefix: '/app-api' }];
    dev = await startServer({
      vars: { GATEWAY_ROUTES: JSON.stringify(routes) },
      varsFor: (port) => ({ JWT_ISSUER: `http://localhost:${port}`, ALLOWED_ORIGINS: `http://localhost:${port}` }),
    });
    cleanups.push(() => dev.stop());
    site = `http://localhost:${dev.port}`;
    console.log(`      site=${site}`);
  }, 150_000);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: !process.env.E2E_HEADED,
    timeout: 30_000,
    args: [...(process.env.E2E_HEADED ? [] : ['--headless']), '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  cleanups.push(() => browser.close());
  const context = await browser.newContext();
  context.setDefaultTimeout(15_000);
  const problems = [];
  const page = await context.newPage();
  page.on('pageerror', (err) => problems.push(`uncaught ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(msg.text())) problems.push(msg.text());
  });

  await step('sign up and sign in through the SPA (cookie mode)', async () => {
    const username = `notes${Date.now().toString(36)}`;
    await page.goto(`${site}/`);
    await page.locator('body[data-state="signed-out"]').waitFor();
    await page.fill('#register-username', username);
    await page.fill('#register-password', PASSWORD);
    await page.click('#register-submit');
    await page.locator('#status', { hasText: 'created' }).waitFor();
    await page.fill('#login-username', username);
    await page.fill('#login-password', PASSWORD);
    await page.click('#login-submit');
    await page.locator('body[data-state="signed-in"]').waitFor();
    assert.doesNotMatch(await page.evaluate(() => document.cookie), /edge_access/, 'the access token is not visible to JavaScript');
  });

  await step('notes are created and listed through the gateway; the origin saw the verified user', async () => {
    for (const text of ['first note', 'second note']) {
      // Any answer to the POST, then its status: a refusal fails here with its status, not as a
      // timeout; the first proxied request may wait for the origin's first connection.
      const [res] = await Promise.all([
        page.waitForResponse((r) => r.url() === `${site}/app-api/notes` && r.request().method() === 'POST', { timeout: 40_000 }),
        page.fill('#note-text', text).then(() => page.click('#note-add')),
      ]);
      assert.equal(res.status(), 201, `POST /app-api/notes answered ${res.status()}: ${await res.text().catch(() => '')}`);
    }
    await page.locator('#notes li').nth(1).waitFor();
    assert.deepEqual(await page.locator('#notes .note-text').allTextContents(), ['first note', 'second note']);
    await page.reload();
    await page.locator('#notes li').nth(1).waitFor();
    const posts = origin.requests.filter((r) => r.method === 'POST' && r.path === '/notes');
    assert.equal(posts.length, 2);
    assert.ok(posts.every((r) => r.verdict === 'accepted'));
    assert.deepEqual([...origin.notes.values()].map((n) => n.text), ['first note', 'second note']);
  });

  // Cross-site: the SameSite=Lax access cookie stays home (401). Same-site: the cookies are sent,
  // so only the CSRF check can stop it (403 csrf_failed).
  for (const [label, host, expected] of [['cross-site (127.0.0.1)', '127.0.0.1', 401], ['same-site, another port (localhost)', 'localhost', 403]]) {
    await step(`a ${label} page's POST to the proxied route is refused and never reaches the origin`, async () => {
      const attacker = await attackerPage(site);
      const before = origin.requests.length;
      const evil = await context.newPage();
      const refusals = [];
      evil.on('response', (r) => {
        if (r.url().startsWith(`${site}/app-api/`) && r.request().method() === 'POST') refusals.push(r.status());
      });
      await evil.goto(`http://${host}:${attacker}/`);
      const seen = await evil.evaluate(() => /** @type {any} */ (window).attack());
      await new Promise((resolve) => setTimeout(resolve, 300));
      await evil.close();
      const arrived = origin.requests.slice(before).filter((r) => r.method !== 'GET');
      assert.deepEqual(arrived, [], `reached the origin: ${JSON.stringify(arrived)}`);
      assert.equal(origin.notes.size, 2, 'no note was planted');
      assert.ok(refusals.length > 0, 'the no-cors POST should reach edge-auth');
      for (const status of refusals) assert.equal(status, expected, `a POST answered ${status}`);
      console.log(`      attacker saw ${JSON.stringify(seen)}; edge-auth answered ${refusals.join(', ') || 'nothing (blocked by the browser)'}`);
    });
  }

  await step('the SPA still works and no CSP violation or page error happened', async () => {
    await page.reload();
    await page.locator('#notes li').nth(1).waitFor();
    assert.deepEqual(problems, []);
  });
}

try {
  await main();
} catch (err) {
  results.push('fail');
  console.log(`  ✘ setup: ${err instanceof Error ? err.stack ?? err.message : err}`);
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
const passed = results.filter((r) => r === 'pass').length;
const failed = results.filter((r) => r === 'fail').length;
const skipped = results.filter((r) => r === 'skip').length;
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
process.exit(failed ? 1 : 0);
