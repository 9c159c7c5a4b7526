// @ts-check
// The demo's second factors: the MFA step of a sign-in (code, recovery code or passkey), sign-in
// with a passkey alone, and, signed in, TOTP enrolment (QR code drawn here, from the otpauth://
// URI, by the vendored qrcode-generator: nothing leaves the page) and passkey registration.
import { createPasskey, getPasskey, passkeysSupported } from './webauthn.js';
import qrcode from './vendor/qrcode.mjs';

/** @typedef {import('./edge-auth-client.js').AuthClient} AuthClient */
/** @typedef {import('./edge-auth-client.js').SessionGrant} SessionGrant */
/** @typedef {import('./edge-auth-client.js').MfaChallenge} MfaChallenge */

/**
 * @param {{
 *   auth: AuthClient,
 *   el: (id: string) => HTMLElement,
 *   busy: (button: HTMLButtonElement, action: () => Promise<void>) => Promise<void>,
 *   log: (text: string) => void,
 *   setStatus: (text: string, kind?: 'ok' | 'error' | '') => void,
 *   signedIn: (grant: SessionGrant) => Promise<void>,
 * }} ui
 */
export function initMfa({ auth, el, busy, log, setStatus, signedIn }) {
  /** @type {MfaChallenge | null} */
  let pending = null;
  const input = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (el(id));
  const button = (/** @type {string} */ id) => /** @type {HTMLButtonElement} */ (el(id));

  /** @param {import('./edge-auth-client.js').MfaFactor} factor @param {string} what */
  async function finish(factor, what) {
    if (!pending) throw new Error('Sign in with your password first.');
    const grant = await auth.verifyMfa(pending.mfa_token, factor);
    log(`POST /auth/mfa/verify (${what}) → 200`);
    pending = null;
    el('mfa-form').hidden = true;
    /** @type {HTMLFormElement} */ (el('mfa-form')).reset();
    await signedIn(grant);
  }

  el('mfa-form').addEventListener('submit', (event) => {
    event.preventDefault();
    busy(button('mfa-submit'), () => finish({ code: input('mfa-code').value.trim() }, 'code'));
  });
  button('mfa-recovery-submit').addEventListener('click', () =>
    busy(button('mfa-recovery-submit'), () => finish({ recovery_code: input('mfa-recovery').value }, 'recovery code')),
  );
  button('mfa-passkey').addEventListener('click', () =>
    busy(button('mfa-passkey'), async () => {
      if (!pending) throw new Error('Sign in with your password first.');
      const { options } = await auth.request('/auth/mfa/webauthn/options', { method: 'POST', body: { mfa_token: pending.mfa_token }, retry: false });
      await finish({ webauthn: await getPasskey(options) }, 'passkey');
    }),
  );
  button('passkey-login').addEventListener('click', () =>
    busy(button('passkey-login'), async () => {
      const grant = await auth.passkeyLogin(getPasskey);
      log('POST /auth/passkey/login → 200 (no username, no password)');
      await signedIn(grant);
    }),
  );
  button('passkey-login').hidden = !passkeysSupported();

  // ---- signed in: enrolment -------------------------------------------------------------------

  async function refresh() {
    const status = await auth.request('/auth/mfa');
    el('mfa-status').textContent = `Authenticator app: ${status.totp}. Passkeys: ${status.passkeys}. Recovery codes left: ${status.recovery_codes_left}.`;
    el('mfa-status').dataset.totp = status.totp;
    const { passkeys } = await auth.request('/auth/passkeys');
    el('passkeys').replaceChildren(
      ...passkeys.map((/** @type {{ id: string, name: string, device_type: string }} */ p) => {
        const li = document.createElement('li');
        li.dataset.passkeyId = p.id;
        li.textContent = `${p.name} (${p.device_type === 'singleDevice' ? 'this device only' : 'synced'}) `;
        const remove = document.createElement('button');
        remove.type = 'button';
        remove.textContent = 'Remove';
        remove.addEventListener('click', () =>
          busy(remove, async () => {
            await auth.request(`/auth/passkeys/${encodeURIComponent(p.id)}`, { method: 'DELETE' });
            log(`DELETE /auth/passkeys/${p.id} → 204`);
            await refresh();
          }),
        );
        li.append(remove);
        return li;
      }),
    );
  }

  /** @param {string[]} codes */
  function showRecoveryCodes(codes) {
    el('recovery-codes').replaceChildren(
      ...codes.map((code) => {
        const li = document.createElement('li');
        li.textContent = code;
        return li;
      }),
    );
    el('recovery').hidden = false;
  }

  button('totp-setup').addEventListener('click', () =>
    busy(button('totp-setup'), async () => {
      const { secret, otpauth_uri } = await auth.request('/auth/mfa/totp/setup', { method: 'POST' });
      const qr = qrcode(0, 'M');
      qr.addData(otpauth_uri);
      qr.make();
      /** @type {HTMLImageElement} */ (el('totp-qr')).src = qr.createDataURL(4, 8);
      el('totp-secret').textContent = secret;
      el('totp-enrol').hidden = false;
      input('totp-code').focus();
      log('POST /auth/mfa/totp/setup → scan the QR code, then confirm with a code');
    }),
  );
  button('totp-confirm').addEventListener('click', () =>
    busy(button('totp-confirm'), async () => {
      const { recovery_codes } = await auth.request('/auth/mfa/totp/confirm', { method: 'POST', body: { code: input('totp-code').value.trim() } });
      el('totp-enrol').hidden = true;
      el('totp-secret').textContent = '';
      input('totp-code').value = '';
      showRecoveryCodes(recovery_codes);
      setStatus('Authenticator app enabled. Save your recovery codes: they are shown once.', 'ok');
      log('POST /auth/mfa/totp/confirm → enabled, 10 recovery codes');
      await refresh();
    }),
  );
  button('passkey-register').addEventListener('click', () =>
    busy(button('passkey-register'), async () => {
      const { options } = await auth.request('/auth/passkeys/register/options', { method: 'POST' });
      const response = await createPasskey(options);
      await auth.request('/auth/passkeys/register', { method: 'POST', body: { response, name: input('passkey-name').value.trim() || 'Passkey' } });
      setStatus('Passkey registered: you can now sign in with it alone.', 'ok');
      log('POST /auth/passkeys/register → 201');
      await refresh();
    }),
  );
  button('passkey-register').hidden = !passkeysSupported();

  return {
    /** The password was right; a second factor is needed. @param {MfaChallenge} challenge */
    required(challenge) {
      pending = challenge;
      el('mfa-form').hidden = false;
      el('mfa-passkey').hidden = !challenge.methods.includes('webauthn') || !passkeysSupported();
      el('mfa-recovery-row').hidden = !challenge.methods.includes('recovery_code');
      input('mfa-code').focus();
      setStatus('Enter the code from your authenticator app (or use a recovery code or passkey).', 'ok');
      log(`POST /auth/login → 200 mfa_required (${challenge.methods.join(', ')})`);
    },
    refresh,
    reset() {
      pending = null;
      el('mfa-form').hidden = true;
      el('totp-enrol').hidden = true;
      el('recovery').hidden = true;
      el('recovery-codes').replaceChildren();
      el('totp-secret').textContent = '';
    },
  };
}
