// The first half of a login with a second factor: after a correct password, instead of tokens, an
// mfa_token (256 random bits, 5 minutes, single use: challenges.ts) and the methods the account can
// use to finish (POST /auth/mfa/verify, mfa/login.ts). Imported by services/auth.ts login only.
import type { Config } from '../config';
import { randomToken } from '../crypto/random';
import { refundAttempt, type FactorFlags } from '../db/lockout';
import { MFA_TOKEN_TTL, storeChallenge } from './challenges';

export type MfaMethod = 'totp' | 'recovery_code' | 'webauthn';

export interface MfaPending {
  mfaRequired: true;
  mfaToken: string;
  methods: MfaMethod[];
  expiresIn: number;
}

/**
 * The second factors a user has: none means a password alone signs them in. One statement (every
 * password login pays for it, factors or not).
 */
export async function mfaMethodsOf(db: D1Database, userId: string): Promise<MfaMethod[]> {
  const row = await db
    .prepare(
      `SELECT EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = ?1 AND enabled_at IS NOT NULL) AS totp,
              EXISTS (SELECT 1 FROM webauthn_credentials WHERE user_id = ?1) AS passkeys,
              EXISTS (SELECT 1 FROM mfa_recovery_codes WHERE user_id = ?1 AND used_at IS NULL) AS recovery`,
    )
    .bind(userId)
    .first<{ totp: number; passkeys: number; recovery: number }>();
  return methodsOf({ totp: Boolean(row?.totp), passkeys: Boolean(row?.passkeys), recovery: Boolean(row?.recovery) });
}

/** The sign-in methods that flags allow (db/lockout.ts reads the flags with the login attempt). */
export function methodsOf(flags: FactorFlags): MfaMethod[] {
  const methods: MfaMethod[] = [];
  if (flags.totp) methods.push('totp');
  if (flags.passkeys) methods.push('webauthn');
  // Recovery codes stand in for a factor; alone (every factor removed) they do not make one.
  if (flags.recovery && methods.length > 0) methods.push('recovery_code');
  return methods;
}

/**
 * Undefined when the user has no second factor; otherwise the pending login to answer with. The
 * password's lockout attempt is taken back, not cleared: wrong codes keep counting (mfa/login.ts).
 */
export async function startMfaLogin(env: { DB: D1Database }, _config: Config, userId: string, now: number, known?: FactorFlags): Promise<MfaPending | undefined> {
  const methods = known ? methodsOf(known) : await mfaMethodsOf(env.DB, userId);
  if (methods.length === 0) return undefined;
  const mfaToken = randomToken(32);
  await Promise.all([storeChallenge(env.DB, mfaToken, 'mfa_login', userId, MFA_TOKEN_TTL, now), refundAttempt(env.DB, userId)]);
  return { mfaRequired: true, mfaToken, methods, expiresIn: MFA_TOKEN_TTL };
}
