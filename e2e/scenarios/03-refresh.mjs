// Silent refresh once the short-lived access token has expired: one refresh for concurrent calls,
// one across two tabs (Web Lock), and the server's grace window for two identical refreshes.
import assert from 'node:assert/strict';
import { PASSWORD } from '../lib.mjs';

/** @param {import('../run.mjs').Scenario} t */
export default async function refresh(t) {
  const { origin, kit, shared } = t;
  const { page, deviceA, username } = shared;
  /** what GET /api/private answered once the access token had expired */
  let expiredAnswer = {};

  await t.step(`after the access token expires (${t.ttl} s), the page still reaches /api/private: one silent refresh`, async () => {
    await kit.outliveAccessToken(deviceA);
    // First, by hand, what the server answers a page whose access token has expired.
    expiredAnswer = await page.evaluate(async () => {
      const res = await fetch('/api/private?probe=1');
      return { status: res.status, error: (await res.json().catch(() => ({}))).error };
    });
    const t0 = Date.now();
    const r = await kit.callPrivate(page);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(kit.count('GET', '/api/private', t0).map((x) => x.status), [401, 200], 'expected: 401 invalid_token, then the retry');
    assert.deepEqual(kit.count('POST', '/auth/refresh', t0).map((x) => x.status), [200]);
    assert.equal((await page.locator('#log li', { hasText: 'POST /auth/refresh → 200' }).count()) > 0, true);
  });

  await t.step('contract: an expired access cookie gets 401 invalid_token (not unauthorized)', async () => {
    // The client refreshes on both (see edge-auth-client.js); the contract says invalid_token.
    assert.deepEqual(expiredAnswer, { status: 401, error: 'invalid_token' });
  }, { critical: false });

  await t.step('expired token + reload: the page refreshes and stays signed in', async () => {
    await kit.outliveAccessToken(deviceA);
    const t0 = Date.now();
    await page.reload();
    await kit.waitState(page, 'signed-in');
    assert.deepEqual(kit.count('POST', '/auth/refresh', t0).map((x) => x.status), [200]);
  });

  await t.step('five concurrent calls with an expired token share ONE refresh', async () => {
    await kit.outliveAccessToken(deviceA);
    const t0 = Date.now();
    const statuses = await page.evaluate(async () => {
      const { createAuthClient } = await import('/js/edge-auth-client.js');
      const client = createAuthClient();
      const paths = ['/api/private', '/auth/me', '/api/private', '/auth/sessions', '/api/private'];
      const responses = await Promise.all(paths.map((p) => client.fetch(p)));
      return responses.map((r) => r.status);
    });
    assert.deepEqual(statuses, [200, 200, 200, 200, 200]);
    assert.equal(kit.count('POST', '/auth/refresh', t0).length, 1, 'refreshes');
  });

  await t.step('two tabs refreshing at the same moment: one refresh (Web Lock), both stay signed in', async () => {
    const tab2 = (shared.tab2 = await deviceA.newPage());
    await tab2.goto(origin + '/');
    await kit.waitState(tab2, 'signed-in');
    await kit.outliveAccessToken(deviceA);
    const t0 = Date.now();
    const [r1, r2] = await Promise.all([kit.callPrivate(page), kit.callPrivate(tab2)]);
    assert.equal(r1.status, 200, r1.text);
    assert.equal(r2.status, 200, r2.text);
    assert.equal(kit.count('POST', '/auth/refresh', t0).length, 1, 'refreshes across both tabs');
    assert.equal((await kit.callPrivate(tab2)).status, 200);
    assert.equal((await kit.callPrivate(page)).status, 200);
  });

  await t.step('server: two simultaneous refreshes of the same parent keep the session (grace window)', async () => {
    // What two tabs without Web Locks do: within the grace window a repeated refresh of the same
    // parent returns the same successor (docs/consistency.md). Sent from Node with identical
    // cookies, so the browser's cookie jar cannot serialise them; a separate session, so the main
    // one is not disturbed.
    const login = await kit.api('POST', '/auth/login', { body: { username, password: PASSWORD, mode: 'cookie' } });
    assert.equal(login.status, 200, login.text);
    const jar = login.cookies;
    try {
      const [a, b] = await Promise.all([kit.api('POST', '/auth/refresh', { jar }), kit.api('POST', '/auth/refresh', { jar })]);
      assert.deepEqual([a.status, b.status], [200, 200], `refresh bodies: ${a.text} | ${b.text}`);
      assert.equal(a.cookies['__Secure-edge_refresh'], b.cookies['__Secure-edge_refresh'], 'both racers get the same successor');
      Object.assign(jar, b.cookies);
      const priv = await kit.api('GET', '/api/private', { jar });
      assert.equal(priv.status, 200, priv.text);
      const again = await kit.api('POST', '/auth/refresh', { jar });
      assert.equal(again.status, 200, `refreshing the successor: ${again.text}`);
      Object.assign(jar, again.cookies);
    } finally {
      await kit.api('POST', '/auth/logout', { jar }).catch(() => undefined);
    }
  }, { critical: false });
}
