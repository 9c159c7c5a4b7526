// The sessions list: a second device appears, and ending its session from here signs it out.
import assert from 'node:assert/strict';
import path from 'node:path';

/** @param {import('../run.mjs').Scenario} t */
export default async function sessions(t) {
  const { origin, kit, shared } = t;
  const { page, username } = shared;

  await t.step('sessions: a second device appears in the list; screenshot', async () => {
    shared.deviceB = await kit.newDevice('B');
    shared.pageB = await shared.deviceB.newPage();
    await kit.uiLogin(shared.pageB, username);
    const listed = await kit.listedSessions(page);
    assert.equal(listed.length, 2, JSON.stringify(listed));
    assert.equal(listed.filter((s) => s.current).length, 1);
    assert.equal((await kit.callPrivate(page)).status, 200);
    await page.screenshot({ path: path.join(t.out, 'signed-in.png'), fullPage: true });
  });

  await t.step('ending the other session from the list signs that device out', async () => {
    const { pageB, deviceB } = shared;
    assert.ok(pageB && deviceB);
    const other = page.locator('#sessions tr:not([data-current="true"]) button.end-session');
    assert.equal(await other.count(), 1, 'the other session has an end button');
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'DELETE' && r.url().startsWith(`${origin}/auth/sessions/`) && r.status() !== 401),
      other.click(),
    ]);
    assert.equal(res.status(), 204);
    await page.waitForFunction(() => document.querySelectorAll('#sessions tr').length === 1);
    // Its refresh token is refused at once (D1); once its access token has expired, the device
    // must refresh, is refused, and signs out.
    await kit.outliveAccessToken(deviceB);
    const r = await kit.callPrivate(pageB);
    assert.equal(r.status, 401, r.text);
    await kit.waitState(pageB, 'signed-out');
    assert.equal((await kit.callPrivate(page)).status, 200, 'this device is unaffected');
  }, { timeout: 60_000 });
}
