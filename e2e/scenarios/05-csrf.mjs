// Cross-site request forgery from a page on another site and from one on the same site (another
// port): nothing the attacker sends changes the session.
import assert from 'node:assert/strict';

/** @param {import('../run.mjs').Scenario} t */
export default async function csrf(t) {
  const { origin, kit, shared } = t;
  const { page, deviceA } = shared;

  /**
   * Opens the attacker page in device A's browser (so A's cookies are in the jar), fires the
   * fetch attacks and the form POST, and returns what reached the server.
   * @param {string} attackerUrl
   */
  async function attack(attackerUrl) {
    const before = await kit.listedSessions(page);
    const t0 = Date.now();
    const evil = await deviceA.newPage();
    await evil.goto(attackerUrl);
    assert.equal(await evil.locator('#csrf-submit').count(), 1, 'the attacker page has its form');
    const seen = await evil.evaluate(() => /** @type {any} */ (window).fetchAttacks());
    // The form POST always reaches the server (only the answer differs): wait for it, no timeout.
    const [formRes] = await Promise.all([evil.waitForResponse((r) => r.url() === `${origin}/auth/logout-all`), evil.click('#csrf-submit')]);
    assert.ok(formRes.status() >= 400, `form POST answered ${formRes.status()}`);
    await evil.close();
    const reached = kit.traffic.filter((x) => x.at >= t0 && x.method !== 'GET' && x.method !== 'OPTIONS');
    for (const x of reached) assert.ok(x.status >= 400, `${x.method} ${x.path} answered ${x.status}`);
    // The attacker's script can never read an authenticated response.
    assert.ok(seen['cors read /auth/me'].error, `cross-origin read of /auth/me: ${JSON.stringify(seen['cors read /auth/me'])}`);
    // With a custom header the browser must preflight, and the server must not grant it.
    assert.ok(seen['cors logout-all + guessed csrf'].error, 'preflighted request went through');
    // The session is untouched: same sessions, and the SPA still works.
    const r = await kit.callPrivate(page);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(await kit.listedSessions(page), before);
    return { reached: reached.map((x) => `${x.method} ${x.path} → ${x.status}`), form: formRes.status() };
  }

  await t.step(`cross-site attacker page (${t.crossSiteUrl}) cannot log the user out`, async () => {
    const r = await attack(t.crossSiteUrl);
    t.notes.push(`cross-site attack reached the server as: ${r.reached.join('; ') || 'nothing'}`);
  });

  await t.step(`same-site attacker on another port (${t.sameSiteUrl}) is stopped by the CSRF check`, async () => {
    const r = await attack(t.sameSiteUrl);
    t.notes.push(`same-site attack reached the server as: ${r.reached.join('; ') || 'nothing'}`);
    // Cookies are sent same-site, so the refusal must be the CSRF check (or an expired token).
    assert.ok(r.reached.length > 0, 'expected the no-cors POSTs to reach the server');
  });
}
