// Usage and the admin console (issue 15): the demo SPA draws the requests this test just made
// (GET /auth/usage, inline SVG), a non-admin is refused by the console, an administrator made with
// `npm run user:create` (as an operator makes the first one) promotes and then demotes a user in
// the console, the user's next admin request is refused, and the audit view shows the demotion.
// Self-contained (its own users and browser contexts): `E2E_ONLY=console node e2e/run.mjs`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { ROOT } from '../../test-node/harness.mjs';
import { PASSWORD } from '../lib.mjs';

/** Calls of GET /api/private the chart must show. */
const CALLS = 3;
/** Counts reach D1 within the metering flush interval (a few seconds); the chart is reloaded until then. */
const USAGE_WAIT_MS = 30_000;

/**
 * `npm run user:create` against the running server's state, the password on stdin.
 * @param {string} persist @param {string} username
 */
function createAdmin(persist, username) {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '-s', 'user:create', '--', '--username', username, '--password-stdin', '--role', 'admin', '--persist-to', persist], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, CI: 'true', NO_COLOR: '1', WRANGLER_SEND_METRICS: 'false' },
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.stdin.end(PASSWORD);
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`user:create exited ${code}:\n${output}`))));
  });
}

/** @param {import('../run.mjs').Scenario} t */
export default async function consoleScenario(t) {
  const { origin, kit, shared } = t;
  const adminName = `${shared.username}_adm`;
  const userName = `${shared.username}_op`;
  /** @type {string} */
  let userId = '';
  const adminDevice = await kit.newDevice('console-admin');
  const userDevice = await kit.newDevice('console-user');
  const adminPage = await adminDevice.newPage();
  const userPage = await userDevice.newPage();
  /** @param {import('playwright-core').Page} page @param {string} s */
  const consoleState = (page, s) => page.locator(`body[data-state="${s}"]`).waitFor();
  /**
   * The answer the page acts on. Access tokens live t.ttl (5) seconds here, so a call may first get
   * 401 invalid_token, which the client answers with one refresh and a retry: by default that 401 is
   * passed over and the retry's answer awaited (`{ first: true }` takes the very first answer).
   * @param {import('playwright-core').Page} page @param {string} method @param {string} path
   * @param {{ first?: boolean }} [opts]
   */
  const response = (page, method, path, opts = {}) =>
    page.waitForResponse((r) => r.request().method() === method && new URL(r.url()).pathname === path && (opts.first || r.status() !== 401));

  await t.step('the console is served as static assets at /console/ with the strict CSP', async () => {
    for (const p of ['/console/', '/console/console.js', '/console/console.css']) {
      const res = await fetch(`http://127.0.0.1:${t.port}${p}`, { signal: AbortSignal.timeout(5000) });
      assert.equal(res.status, 200, `${p} status`);
      const csp = res.headers.get('content-security-policy') ?? '';
      for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"]) {
        assert.ok(csp.includes(directive), `${p}: CSP lacks ${directive}: "${csp}"`);
      }
      if (p === '/console/') assert.match(await res.text(), /admin console/);
    }
  });

  await t.step('a user registers and signs in on the demo page (no console link: not an admin)', async () => {
    const reg = await kit.api('POST', '/auth/register', { body: { username: userName, password: PASSWORD } });
    assert.equal(reg.status, 201, reg.text);
    userId = JSON.parse(reg.text).user.id;
    const res = await kit.uiLogin(userPage, userName);
    assert.equal(res.status(), 200);
    assert.equal(await userPage.locator('#console-link').isHidden(), true, 'a non-admin sees the console link');
  });

  await t.step(`the usage chart draws the ${CALLS} calls of GET /api/private just made`, async () => {
    for (let i = 0; i < CALLS; i++) {
      const r = await kit.callPrivate(userPage);
      assert.equal(r.status, 200, r.text);
    }
    await userPage.click('#usage-panel summary');
    const bar = userPage.locator('#usage-chart svg.usage-routes g.route[data-route="GET /api/private"]');
    const deadline = Date.now() + USAGE_WAIT_MS;
    /** @type {string | null} */
    let drawn = null;
    for (;;) {
      // Each look is a fresh GET /auth/usage (the panel reloads on open and on Reload).
      await userPage.locator('#usage-chart[data-loaded], #usage-status:has-text("Could not")').first().waitFor();
      const failed = await userPage.locator('#usage-status').textContent();
      assert.doesNotMatch(failed ?? '', /Could not/, failed ?? '');
      drawn = (await bar.count()) ? await bar.locator('text.count').textContent() : null;
      if (drawn === String(CALLS)) break;
      if (Date.now() > deadline) assert.fail(`the chart shows ${drawn ?? 'no bar'} for GET /api/private after ${USAGE_WAIT_MS} ms, expected ${CALLS}`);
      await new Promise((r) => setTimeout(r, 1000));
      await Promise.all([response(userPage, 'GET', '/auth/usage'), userPage.click('#usage-reload')]);
    }
    assert.equal(await bar.getAttribute('data-requests'), String(CALLS));
    // The time chart holds the same requests in its columns (plus the page's other calls).
    const columns = await userPage.$$eval('#usage-chart svg.usage-time rect.col', (rects) => rects.map((r) => Number(r.getAttribute('data-requests'))));
    const total = Number(await userPage.locator('#usage-chart figure.usage').getAttribute('data-total'));
    assert.equal(columns.reduce((a, b) => a + b, 0), total, 'columns and total disagree');
    assert.ok(total >= CALLS, `total ${total} < ${CALLS}`);
  }, { critical: false });

  await t.step('a signed-in non-admin opening the console sees a clear refusal', async () => {
    const [res] = await Promise.all([response(userPage, 'GET', '/admin/users'), userPage.goto(origin + '/console/')]);
    assert.equal(res.status(), 403);
    await consoleState(userPage, 'refused');
    assert.match((await userPage.textContent('#refused-reason')) ?? '', /does not hold the admin role/);
    assert.equal(await userPage.textContent('#refused-code'), '403 insufficient_scope');
    assert.equal(await userPage.locator('#admin').isHidden(), true);
  });

  await t.step('an administrator is made with npm run user:create (as an operator makes the first one)', async () => {
    const out = await createAdmin(t.persist, adminName);
    assert.match(String(out), /with roles \["admin"\]/);
  }, { timeout: 150_000 });

  await t.step('the administrator signs in to the console and promotes the user', async () => {
    await adminPage.goto(origin + '/console/');
    await consoleState(adminPage, 'signed-out');
    await adminPage.fill('#login-username', adminName);
    await adminPage.fill('#login-password', PASSWORD);
    await Promise.all([response(adminPage, 'GET', '/admin/users'), adminPage.click('#login-submit')]);
    await consoleState(adminPage, 'admin');
    await adminPage.fill('#user-prefix', userName);
    await Promise.all([response(adminPage, 'GET', '/admin/users'), adminPage.click('#user-search-submit')]);
    await adminPage.click(`#users-list tr[data-user-id="${userId}"] button.link`);
    await adminPage.locator(`#user-detail[data-user-id="${userId}"]`).waitFor();
    await adminPage.fill('#user-roles', 'admin');
    const [res] = await Promise.all([response(adminPage, 'PATCH', `/admin/users/${userId}`), adminPage.click('#user-roles-save')]);
    assert.equal(res.status(), 200, await res.text());
    await adminPage.locator('#user-detail dd[data-field="roles"]', { hasText: 'admin' }).waitFor();
  });

  await t.step('the promoted user signs in again and the admin API answers them', async () => {
    // The role change ended their sessions: the page finds itself signed out.
    await userPage.goto(origin + '/console/');
    await consoleState(userPage, 'signed-out');
    await userPage.fill('#login-username', userName);
    await userPage.fill('#login-password', PASSWORD);
    const [res] = await Promise.all([response(userPage, 'GET', '/admin/users'), userPage.click('#login-submit')]);
    assert.equal(res.status(), 200);
    await consoleState(userPage, 'admin');
    await userPage.locator(`#users-list tr[data-user-id="${userId}"]`).waitFor();
  });

  await t.step('the administrator demotes the user in the console', async () => {
    await adminPage.fill('#user-roles', '');
    const [res] = await Promise.all([response(adminPage, 'PATCH', `/admin/users/${userId}`), adminPage.click('#user-roles-save')]);
    assert.equal(res.status(), 200, await res.text());
    assert.deepEqual(JSON.parse(await res.text()).user.roles, []);
    await adminPage.locator('#user-detail dd[data-field="roles"]', { hasText: '–' }).waitFor();
    await adminPage.screenshot({ path: `${t.out}/console-user.png`, fullPage: true });
  });

  await t.step("the demoted user's next admin request is refused", async () => {
    // Same page, same cookies as a moment ago: the next admin call is refused (its session ended
    // with the demotion, so the one silent refresh fails too) and the console signs out.
    const [res] = await Promise.all([response(userPage, 'GET', '/admin/audit', { first: true }), userPage.click('#tabs button[data-tab="audit"]')]);
    assert.equal(res.status(), 401, `admin request after demotion: ${res.status()}`);
    await consoleState(userPage, 'signed-out');
    // Signed in again, with the roles D1 holds now: refused for the role.
    await userPage.fill('#login-username', userName);
    await userPage.fill('#login-password', PASSWORD);
    const [again] = await Promise.all([response(userPage, 'GET', '/admin/users'), userPage.click('#login-submit')]);
    assert.equal(again.status(), 403);
    await consoleState(userPage, 'refused');
    assert.equal(await userPage.textContent('#refused-code'), '403 insufficient_scope');
  });

  await t.step('the audit view shows the demotion', async () => {
    await Promise.all([response(adminPage, 'GET', '/admin/audit'), adminPage.click('#user-detail button:has-text("Audit events")')]);
    await adminPage.locator(`#audit-list[data-query*="user=${userId}"]`).waitFor();
    const rows = adminPage.locator(`#audit-list tr[data-event="role_change"][data-subject-id="${userId}"]`);
    assert.equal(await rows.count(), 2, 'a promotion and a demotion');
    // Newest first: the demotion, from ["admin"] to [].
    const detail = JSON.parse((await rows.first().locator('code.detail').textContent()) ?? '{}');
    assert.deepEqual([detail.from, detail.to], [['admin'], []]);
    // The filter form narrows it to the event.
    await adminPage.fill('#audit-event', 'role_change');
    const [res] = await Promise.all([response(adminPage, 'GET', '/admin/audit'), adminPage.click('#audit-submit')]);
    assert.match(res.url(), /event=role_change/);
    await adminPage.locator('#audit-list[data-query*="event=role_change"]').waitFor();
    assert.equal(await adminPage.locator('#audit-list tbody tr').count(), 2);
  });

  await t.step('the console charts the user\'s usage from GET /admin/usage', async () => {
    await adminPage.click('#tabs button[data-tab="usage"]');
    await adminPage.fill('#usage-subject', `user:${userId}`);
    const [res] = await Promise.all([response(adminPage, 'GET', '/admin/usage'), adminPage.click('#usage-submit')]);
    assert.equal(res.status(), 200, await res.text());
    const bar = adminPage.locator(`#usage-view article[data-subject="user:${userId}"] g.route[data-route="GET /api/private"]`);
    await bar.waitFor();
    assert.equal(await bar.locator('text.count').textContent(), String(CALLS));
  }, { critical: false });

  await t.step('a new client secret is handed over in a password field, never drawn as text', async () => {
    await adminPage.click('#tabs button[data-tab="clients"]');
    await adminPage.fill('#client-name', 'e2e-console');
    await adminPage.fill('#client-roles', 'reports');
    const [res] = await Promise.all([response(adminPage, 'POST', '/admin/clients'), adminPage.click('#client-create-submit')]);
    assert.equal(res.status(), 201);
    const secret = JSON.parse(await res.text()).client_secret;
    assert.equal(await adminPage.getAttribute('#client-secret-value', 'type'), 'password');
    assert.ok(!(await adminPage.evaluate(() => document.body.innerText)).includes(secret), 'the secret is drawn as text');
    await adminPage.click('#client-secret button:has-text("Forget it")');
    assert.equal(await adminPage.locator('#client-secret-value').count(), 0);
  }, { critical: false });

  await t.step('no CSP violation or uncaught error in the console or the usage chart', async () => {
    await adminPage.click('#tabs button[data-tab="usage"]');
    await adminPage.screenshot({ path: `${t.out}/console.png`, fullPage: true });
    await userPage.goto(origin + '/');
    await kit.waitState(userPage, 'signed-in');
    await Promise.all([response(userPage, 'GET', '/auth/usage'), userPage.click('#usage-panel summary')]);
    await userPage.locator('#usage-chart[data-loaded]').waitFor();
    await userPage.locator('#usage-card').screenshot({ path: `${t.out}/usage-chart.png` });
    assert.deepEqual(kit.pageProblems, []);
  }, { critical: false });
}
