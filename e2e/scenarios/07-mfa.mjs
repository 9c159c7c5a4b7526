// Second factors and passkeys (e2e/mfa.mjs): TOTP with a QR code and recovery codes, a passkey
// registered through Chromium's virtual authenticator and used alone to sign in, and the same key
// refused from another RP ID. On browser contexts of its own.
import { PASSWORD } from '../lib.mjs';
import { runMfaScenario } from '../mfa.mjs';

/** @param {import('../run.mjs').Scenario} t */
export default async function mfa(t) {
  /** @type {(() => Promise<void>)[]} */
  const cleanups = [];
  try {
    await runMfaScenario({ origin: t.origin, password: PASSWORD, step: t.step, newDevice: t.kit.newDevice, waitState: t.kit.waitState, cleanups });
  } finally {
    while (cleanups.length) await cleanups.pop()().catch(() => undefined);
  }
}
