// Browser scenario of issue 17 (second factors and passkeys), started from e2e/run.mjs: the demo
// SPA enrols TOTP (QR code drawn in the page; the code computed here from the secret the page
// shows), signs in with a recovery code and with a TOTP code, registers a passkey with Chromium's
// virtual authenticator (CDP WebAuthn domain: ctap2, internal transport, resident keys, user
// verification), signs out and back in with the passkey alone, and shows that the same key used
// from another RP ID (a look-alike site holding a copy of it) is refused.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { startAttackerServer } from './attacker-server.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** RFC 4648 base32 -> bytes. @param {string} text */
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of text.replace(/[\s=]/g, '').toUpperCase()) {
    value = ((value << 5) | alphabet.indexOf(ch)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s), as an authenticator app computes it. @param {string} secret @param {number} step */
export function totpAt(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}
const stepNow = () => Math.floor(Date.now() / 30_000);

/**
 * @param {{
 *   origin: string,
 *   password: string,
 *   step: (name: string, fn: () => Promise<void>, opts?: { timeout?: number, critical?: boolean }) => Promise<void>,
 *   newDevice: (label: string) => Promise<import('playwright-core').BrowserContext>,
 *   waitState: (page: import('playwright-core').Page, state: string) => Promise<void>,
 *   cleanups: (() => Promise<void>)[],
 * }} h
 */
export async function runMfaScenario({ origin, password, step, newDevice, waitState, cleanups }) {
  const username = `mfa_${Date.now().toString(36)}`;
  const context = await newDevice('mfa');
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  /** @type {string} */
  let authenticatorId = '';
  let secret = '';
  let confirmedStep = 0;
  /** @type {string[]} */
  let recoveryCodes = [];

  async function passwordSignIn() {
    await page.goto(origin + '/');
    await waitState(page, 'signed-out');
    await page.fill('#login-username', username);
    await page.fill('#login-password', password);
    const [res] = await Promise.all([page.waitForResponse((r) => r.url() === `${origin}/auth/login`), page.click('#login-submit')]);
    return res;
  }
  async function signOut() {
    await page.click('#logout');
    await waitState(page, 'signed-out');
  }

  await step('mfa: a virtual authenticator (ctap2, internal, resident keys, user verification)', async () => {
    await cdp.send('WebAuthn.enable', { enableUI: false });
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    }));
    assert.ok(authenticatorId);
  });

  await step('mfa: sign up and sign in with the password alone', async () => {
    await page.goto(origin + '/');
    await waitState(page, 'signed-out');
    await page.fill('#register-username', username);
    await page.fill('#register-password', password);
    await Promise.all([page.waitForResponse((r) => r.url() === `${origin}/auth/register`), page.click('#register-submit')]);
    const res = await passwordSignIn();
    assert.equal(res.status(), 200);
    await waitState(page, 'signed-in');
  });

  await step('mfa: enrol TOTP: QR code drawn in the page, code computed from the secret it shows, 10 recovery codes', async () => {
    await page.click('#totp-setup');
    await page.locator('#totp-enrol').waitFor({ state: 'visible' });
    secret = ((await page.textContent('#totp-secret')) ?? '').trim();
    assert.match(secret, /^[A-Z2-7]{32}$/);
    const qr = await page.getAttribute('#totp-qr', 'src');
    assert.match(qr ?? '', /^data:image\/gif;base64,/, 'the QR code is generated locally as a data: image');
    const qrSize = await page.locator('#totp-qr').evaluate((img) => /** @type {HTMLImageElement} */ (img).naturalWidth);
    assert.ok(qrSize > 100, `QR image rendered (${qrSize}px)`);
    confirmedStep = stepNow();
    await page.fill('#totp-code', totpAt(secret, confirmedStep));
    await Promise.all([page.waitForResponse((r) => r.url() === `${origin}/auth/mfa/totp/confirm` && r.status() === 200), page.click('#totp-confirm')]);
    await page.locator('#recovery-codes li').nth(9).waitFor();
    recoveryCodes = await page.locator('#recovery-codes li').allTextContents();
    assert.equal(recoveryCodes.length, 10);
    await page.locator('#mfa-status[data-totp="enabled"]').waitFor();
  });

  await step('mfa: register a passkey through the page', async () => {
    await page.fill('#passkey-name', 'e2e virtual authenticator');
    await Promise.all([page.waitForResponse((r) => r.url() === `${origin}/auth/passkeys/register` && r.status() === 201), page.click('#passkey-register')]);
    await page.locator('#passkeys li').first().waitFor();
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0].isResidentCredential, true);
    assert.equal(credentials[0].rpId, 'localhost');
  });

  await step('mfa: sign out; the password alone now asks for a second factor; a recovery code finishes the sign-in', async () => {
    await signOut();
    const res = await passwordSignIn();
    const body = await res.json();
    assert.equal(body.mfa_required, true);
    assert.deepEqual(body.methods, ['totp', 'webauthn', 'recovery_code']);
    assert.equal(await page.evaluate(() => document.cookie.includes('edge_csrf')), false, 'no session cookies before the second factor');
    await page.locator('#mfa-form').waitFor({ state: 'visible' });
    await page.fill('#mfa-recovery', recoveryCodes[0]);
    await Promise.all([page.waitForResponse((r) => r.url() === `${origin}/auth/mfa/verify` && r.status() === 200), page.click('#mfa-recovery-submit')]);
    await waitState(page, 'signed-in');
  });

  await step('mfa: the same recovery code is refused the second time; a TOTP code (a new time step) works', async () => {
    await signOut();
    await passwordSignIn();
    await page.locator('#mfa-form').waitFor({ state: 'visible' });
    await page.fill('#mfa-recovery', recoveryCodes[0]);
    const [again] = await Promise.all([page.waitForResponse((r) => r.url() === `${origin}/auth/mfa/verify`), page.click('#mfa-recovery-submit')]);
    assert.equal(again.status(), 401);
    // The code used to confirm is spent: wait for the next 30-second step if we are still in it.
    while (stepNow() <= confirmedStep) await sleep(500);
    await page.fill('#mfa-code', totpAt(secret, stepNow()));
    await Promise.all([page.waitForResponse((r) => r.url() === `${origin}/auth/mfa/verify` && r.status() === 200), page.click('#mfa-submit')]);
    await waitState(page, 'signed-in');
  }, { timeout: 60_000 });

  await step('mfa: sign out, then sign back in with the passkey alone (no username, no password)', async () => {
    await signOut();
    await page.goto(origin + '/');
    await waitState(page, 'signed-out');
    assert.equal(await page.inputValue('#login-username'), '');
    const [res] = await Promise.all([page.waitForResponse((r) => r.url() === `${origin}/auth/passkey/login`), page.click('#passkey-login')]);
    assert.equal(res.status(), 200, await res.text());
    await waitState(page, 'signed-in');
    assert.equal(await page.textContent('#whoami-name'), username);
  });

  await step('mfa: the same key used from another RP ID (a look-alike site with a copy of it) is refused', async () => {
    // A page on evil.localhost (Chromium resolves *.localhost to loopback: a secure context).
    const evil = await startAttackerServer({ target: origin });
    cleanups.push(() => evil.close());
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    const original = credentials[0];
    // The phisher holds the very key, registered to its own RP ID.
    const copyId = Buffer.from(`copy-${original.credentialId}`).toString('base64');
    await cdp.send('WebAuthn.addCredential', {
      authenticatorId,
      credential: { credentialId: copyId, isResidentCredential: true, rpId: 'evil.localhost', privateKey: original.privateKey, userHandle: original.userHandle, signCount: original.signCount + 100 },
    });
    const optionsRes = await fetch(`${origin}/auth/passkey/login/options`, { method: 'POST', headers: { Origin: origin } });
    const { options } = await optionsRes.json();
    await page.goto(`http://evil.localhost:${evil.port}/`);
    const assertion = await page.evaluate(async ({ challenge, credentialId }) => {
      const b64 = (/** @type {ArrayBuffer | null} */ buf) => (buf ? btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '') : undefined);
      const unb64 = (/** @type {string} */ s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
      const cred = /** @type {PublicKeyCredential} */ (await navigator.credentials.get({ publicKey: { challenge: unb64(challenge), rpId: 'evil.localhost', userVerification: 'required', allowCredentials: [{ type: 'public-key', id: unb64(credentialId) }] } }));
      const r = /** @type {AuthenticatorAssertionResponse} */ (cred.response);
      return { id: cred.id, rawId: b64(cred.rawId), type: cred.type, clientExtensionResults: {}, response: { clientDataJSON: b64(r.clientDataJSON), authenticatorData: b64(r.authenticatorData), signature: b64(r.signature), userHandle: b64(r.userHandle) } };
    }, { challenge: options.challenge, credentialId: copyId });
    // Sent under the registered credential's id (the key is the same one): the origin and the RP ID
    // hash in the signed data give it away.
    const id = original.credentialId.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    const res = await fetch(`${origin}/auth/passkey/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: origin },
      body: JSON.stringify({ response: { ...assertion, id, rawId: id } }),
    });
    const body = await res.json();
    assert.equal(res.status, 401);
    assert.equal(body.error, 'invalid_credentials');
    assert.match(body.message, /origin|RP ID/);
    await page.goto(origin + '/');
    await waitState(page, 'signed-in'); // the real session is untouched
  });
}
