// Sign out (the other tab follows; old cookies replayed elsewhere are refused) and sign out
// everywhere (the other device is refused within the revocation bound, not by token expiry).
import assert from 'node:assert/strict';

/** @param {import('../run.mjs').Scenario} t */
export default async function signOut(t) {
  const { origin, kit, shared } = t;
  const { page, deviceA, username } = shared;
  /** @type {import('playwright-core').Cookie[]} */
  let cookiesBeforeLogout = [];

  await t.step('sign out: the page, the other tab and the old cookies are all refused', async () => {
    const { tab2 } = shared;
    assert.ok(tab2);
    cookiesBeforeLogout = await deviceA.cookies(origin + '/auth/refresh');
    const [res] = await Promise.all([page.waitForResponse((r) => r.url() === `${origin}/auth/logout` && r.status() !== 401), page.click('#logout')]);
    assert.equal(res.status(), 204);
    await kit.waitState(page, 'signed-out');
    await kit.waitState(tab2, 'signed-out'); // told over the BroadcastChannel
    const visible = await page.evaluate(() => document.cookie);
    assert.doesNotMatch(visible, /edge_csrf/, 'CSRF cookie should be cleared');
    const jar = (await deviceA.cookies(origin + '/auth/refresh')).map((c) => c.name);
    assert.deepEqual(jar.filter((n) => n.includes('edge_')), [], `cookies left: ${jar}`);
    const status = await page.evaluate(() => fetch('/api/private').then((r) => r.status));
    assert.equal(status, 401);
    await page.reload();
    await kit.waitState(page, 'signed-out');
  });

  await t.step('replaying the signed-out cookies in another browser is refused (access and refresh)', async () => {
    const thief = await kit.newDevice('thief');
    await thief.addCookies(cookiesBeforeLogout.filter((c) => c.name.includes('edge_')));
    const t0 = Date.now();
    const p = await thief.newPage();
    await p.goto(origin + '/'); // the SPA tries /auth/me, then a refresh, and gives up
    await kit.waitState(p, 'signed-out');
    // The SPA's failed refresh made the server clear the cookies: plant them again, then try by hand.
    await thief.addCookies(cookiesBeforeLogout.filter((c) => c.name.includes('edge_')));
    const raw = await p.evaluate(async () => {
      const csrf = document.cookie.match(/__Host-edge_csrf=([^;]+)/)?.[1] ?? '';
      const priv = await fetch('/api/private');
      const refresh = await fetch('/auth/refresh', { method: 'POST', headers: { 'X-CSRF-Token': csrf } });
      return { priv: priv.status, refresh: refresh.status, refreshBody: await refresh.text() };
    });
    const ok = kit.traffic.filter((x) => x.device === 'thief' && x.at >= t0 && x.status < 400);
    assert.deepEqual(ok, [], 'the old cookies got a 2xx somewhere');
    assert.equal(raw.priv, 401);
    assert.ok([400, 401].includes(raw.refresh), `refresh with the old cookie: ${raw.refresh} ${raw.refreshBody}`);
    await thief.close();
  });

  await t.step('sign out everywhere: the other device is refused as revoked, not as expired', async () => {
    const { pageB, deviceB } = shared;
    assert.ok(pageB && deviceB);
    await kit.uiLogin(page, username);
    await kit.uiLogin(pageB, username);
    assert.equal((await kit.callPrivate(pageB)).status, 200);
    const access = (await deviceB.cookies(origin + '/')).find((c) => c.name === '__Host-edge_access');
    assert.ok(access, 'device B holds an access cookie');
    const [res] = await Promise.all([page.waitForResponse((r) => r.url() === `${origin}/auth/logout-all` && r.status() !== 401), page.click('#logout-all')]);
    assert.equal(res.status(), 204);
    await kit.waitState(page, 'signed-out');
    // Locally KV is strongly consistent and the revoking isolate remembers the revocation, so the
    // stated bound here is "at once" (docs/consistency.md). B's token, replayed from Node, must be
    // refused because it is revoked; an answer about expiry would mean revocation came too late
    // to be seen, and fails the step.
    const replay = await kit.api('GET', '/api/private', { jar: { '__Host-edge_access': access.value } });
    assert.equal(replay.status, 401, replay.text);
    assert.match(JSON.parse(replay.text).message, /revoked/, replay.text);
    // B itself: refused, its refresh refused too (D1 ended the session), so it signs out.
    const t0 = Date.now();
    const r = await kit.callPrivate(pageB);
    assert.equal(r.status, 401, r.text);
    assert.deepEqual(kit.count('POST', '/auth/refresh', t0).filter((x) => x.device === 'B').map((x) => x.status), [401]);
    await kit.waitState(pageB, 'signed-out');
  }, { timeout: 60_000 });
}
