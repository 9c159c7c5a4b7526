// Account mail in the browser (docs/email.md), through the development mailbox: sign up with an
// address and verify it from the mailed link; then "forgot password" in another browser, open the
// reset link from the mailbox, set a new password: the first browser's session is refused, the old
// password too, and the new one signs in (by the verified address). Self-contained: its own
// account and browser contexts, so `E2E_ONLY=email` runs it alone.
import assert from 'node:assert/strict';
import { PASSWORD, requireForm } from '../lib.mjs';

const NEW_PASSWORD = 'a new password from the reset link';

/**
 * Opens the development mailbox page until a mail to `to` whose subject matches `subject` shows a
 * link (mail is sent after the answer, in waitUntil), then follows that link in the same page.
 * @param {import('playwright-core').Page} page @param {string} origin @param {string} to @param {RegExp} subject
 */
async function openMailedLink(page, origin, to, subject) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    await page.goto(origin + '/mailbox');
    await page.locator('#mailbox-list[data-loaded]').waitFor({ state: 'attached' });
    const mails = page.locator(`#mailbox-list li[data-to="${to}"]`).filter({ has: page.locator('strong', { hasText: subject }) });
    if ((await mails.count()) > 0) {
      const link = mails.first().locator('a.mail-link');
      const href = await link.getAttribute('href');
      assert.ok(href, 'the mail has a link');
      assert.match(href, /#token=[A-Za-z0-9_-]{43}$/, 'the token travels in the fragment');
      await link.click();
      return href;
    }
    if (Date.now() > deadline) throw new Error(`no mail to ${to} matching ${subject} in the mailbox`);
    await page.waitForTimeout(300); // polling the mailbox for a background send, not waiting out a timer
  }
}

/** @param {import('../run.mjs').Scenario} t */
export default async function email(t) {
  const { origin, kit } = t;
  const username = `mail_${Date.now().toString(36)}`;
  const address = `${username}@example.com`;
  const device = await kit.newDevice('mail-A');
  const page = await device.newPage();

  await t.step('sign up with an address, then verify it from the link in the development mailbox', async () => {
    await page.goto(origin + '/');
    await kit.waitState(page, 'signed-out');
    await requireForm(page, ['#register-username', '#register-email', '#register-password', '#register-submit']);
    await page.fill('#register-username', username);
    await page.fill('#register-email', address);
    await page.fill('#register-password', PASSWORD);
    const [res] = await Promise.all([page.waitForResponse((r) => r.url() === `${origin}/auth/register`), page.click('#register-submit')]);
    assert.equal(res.status(), 201);
    await kit.uiLogin(page, username);
    assert.equal(await page.locator('#email-state').textContent(), '(not verified)');

    const mailbox = await device.newPage();
    await openMailedLink(mailbox, origin, address, /confirm your email address/);
    await mailbox.waitForURL(`${origin}/verify-email`); // the fragment is dropped from the address bar at once
    assert.equal(await mailbox.evaluate(() => document.body.dataset.page), 'verify');
    const [verify] = await Promise.all([mailbox.waitForResponse((r) => r.url() === `${origin}/auth/email/verify`), mailbox.click('#verify-submit')]);
    assert.equal(verify.status(), 200);
    await mailbox.locator('#verify-result[data-status="ok"]').waitFor();
    await mailbox.close();

    await page.reload();
    await kit.waitState(page, 'signed-in');
    assert.equal(await page.locator('#email-state').textContent(), '(verified)');
  });

  await t.step('forgot password in another browser, reset from the mailed link: the old session and password are refused, the new one signs in', async () => {
    const other = await kit.newDevice('mail-B');
    const p = await other.newPage();
    await p.goto(origin + '/');
    await kit.waitState(p, 'signed-out');
    await requireForm(p, ['#forgot-login', '#forgot-submit']);
    await p.fill('#forgot-login', address);
    const [forgot] = await Promise.all([p.waitForResponse((r) => r.url() === `${origin}/auth/password/forgot`), p.click('#forgot-submit')]);
    assert.equal(forgot.status(), 202);
    await p.locator('#forgot-result[data-status="ok"]').waitFor();

    await openMailedLink(p, origin, address, /reset your password/);
    await p.waitForURL(`${origin}/reset-password`);
    await requireForm(p, ['#reset-password', '#reset-submit']);
    await p.fill('#reset-password', NEW_PASSWORD);
    const [reset] = await Promise.all([p.waitForResponse((r) => r.url() === `${origin}/auth/password/reset`), p.click('#reset-submit')]);
    assert.equal(reset.status(), 204);
    await p.locator('#reset-result[data-status="ok"]').waitFor();

    // The first browser's session ended with the reset: refused at once, and its refresh too.
    const refused = await kit.callPrivate(page);
    assert.equal(refused.status, 401, refused.text);
    await kit.waitState(page, 'signed-out');

    // The old password no longer signs in; the new one does, by the verified address.
    const old = await kit.submitLogin(page, username, PASSWORD);
    assert.equal(old.status(), 401);
    const fresh = await kit.submitLogin(page, address, NEW_PASSWORD);
    assert.equal(fresh.status(), 200);
    await kit.waitState(page, 'signed-in');
    assert.equal((await kit.callPrivate(page)).status, 200);
    // A notice of the reset went to the address.
    const notices = await kit.api('GET', `/auth/dev/mailbox?to=${encodeURIComponent(address)}`);
    assert.match(notices.text, /your password was reset/);
  }, { timeout: 180_000 });
}
