// Sign up and sign in through the page in cookie mode: no token in a body or within reach of
// JavaScript; the session survives a reload and reaches a protected route.
import assert from 'node:assert/strict';
import { PASSWORD, requireForm } from '../lib.mjs';

/** @param {import('../run.mjs').Scenario} t */
export default async function account(t) {
  const { origin, kit, shared } = t;
  const { username } = shared;
  shared.deviceA = await kit.newDevice('A');
  const page = (shared.page = await shared.deviceA.newPage());

  await t.step('sign up through the page', async () => {
    await page.goto(origin + '/');
    await kit.waitState(page, 'signed-out');
    await requireForm(page, ['#register-username', '#register-email', '#register-password', '#register-submit']);
    await page.fill('#register-username', username);
    await page.fill('#register-email', `${username}@example.test`);
    await page.fill('#register-password', PASSWORD);
    const [res] = await Promise.all([page.waitForResponse((r) => r.url() === `${origin}/auth/register`), page.click('#register-submit')]);
    assert.equal(res.status(), 201, `register: ${await res.text()}`);
    await page.locator('#status', { hasText: 'created' }).waitFor();
    assert.equal(await page.inputValue('#login-username'), username);
  });

  await t.step('a taken username is refused with a readable error', async () => {
    await page.fill('#register-username', username.toUpperCase());
    await page.fill('#register-password', PASSWORD);
    const [res] = await Promise.all([page.waitForResponse((r) => r.url() === `${origin}/auth/register`), page.click('#register-submit')]);
    assert.equal(res.status(), 409);
    assert.equal((await res.json()).error, 'username_taken');
    await page.locator('#status.error', { hasText: 'username_taken' }).waitFor();
  }, { critical: false });

  await t.step('sign in through the page (cookie mode): no token in the body', async () => {
    const res = await kit.uiLogin(page, username);
    assert.equal(res.status(), 200);
    const body = await res.json();
    assert.equal(body.access_token, undefined, 'access_token in a cookie-mode body');
    assert.equal(body.refresh_token, undefined, 'refresh_token in a cookie-mode body');
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.expires_in, t.ttl, 'expires_in should be the configured ACCESS_TOKEN_TTL');
    assert.equal(body.user.username, username);
    assert.equal(await page.textContent('#whoami-name'), username);
    assert.equal(await page.textContent('#me dd[data-field="username"]'), username);
  });

  await t.step('JavaScript sees no access or refresh token (HttpOnly, Secure, SameSite cookies)', async () => {
    const visible = await page.evaluate(() => document.cookie);
    assert.doesNotMatch(visible, /edge_access|edge_refresh/, `document.cookie = ${visible}`);
    assert.match(visible, /__Host-edge_csrf=/, 'the CSRF cookie should be readable');
    const jar = await shared.deviceA.cookies(origin + '/auth/refresh');
    const byName = Object.fromEntries(jar.map((c) => [c.name, c]));
    const access = byName['__Host-edge_access'];
    const refresh = byName['__Secure-edge_refresh'];
    const csrf = byName['__Host-edge_csrf'];
    assert.ok(access && refresh && csrf, `cookies: ${jar.map((c) => c.name).join(', ')}`);
    assert.deepEqual([access.httpOnly, access.secure, access.sameSite, access.path], [true, true, 'Lax', '/']);
    assert.deepEqual([refresh.httpOnly, refresh.secure, refresh.sameSite, refresh.path], [true, true, 'Strict', '/auth/refresh']);
    assert.deepEqual([csrf.httpOnly, csrf.secure, csrf.sameSite, csrf.path], [false, true, 'Strict', '/']);
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }));
    assert.ok(!stored.includes(access.value) && !stored.includes(refresh.value), 'a token ended up in web storage');
  });

  await t.step('reload: still signed in', async () => {
    await page.reload();
    await kit.waitState(page, 'signed-in');
    assert.equal(await page.textContent('#whoami-name'), username);
  });

  await t.step('GET /api/private through the page', async () => {
    const r = await kit.callPrivate(page);
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, new RegExp(username));
  });
}
