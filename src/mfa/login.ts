// The second half of a login with a second factor, and the passkey sign-in.
//
// POST /auth/mfa/verify: the mfa_token from a correct password plus one factor. Every attempt is
// admitted and counted by the same D1 lockout as passwords (db/lockout.ts) before the factor is
// checked, and the count is cleared only when the factor is right, so a thief holding the password
// gets LOCKOUT_THRESHOLD guesses at a code, not a million (services/auth.ts login keeps the count
// when a factor follows). The token is consumed (one conditional UPDATE) only by a right factor:
// a mistyped code costs an attempt, not the sign-in.
//
// A passkey alone (discoverable credential, user verification required) signs in without a
// username or password: possession of the key plus the PIN or biometric that unlocked it.
import { admitPasswordAttempt, clearFailedLogins } from '../db/lockout';
import { findUserById } from '../db/users';
import { AppError } from '../errors';
import { auditAuthEvent, openSession, type AuthDeps, type Issued } from '../services/auth';
import { consumeChallenge, peekChallenge } from './challenges';
import type { MfaMethod } from './pending';
import { useRecoveryCode } from './recovery';
import { verifyTotp } from './totp';
import { verifyAssertion, type AuthenticationResponseJSON } from './webauthn';

export type FactorInput =
  | { method: 'totp'; code: string }
  | { method: 'recovery_code'; code: string }
  | { method: 'webauthn'; response: AuthenticationResponseJSON };

function badMfaToken(): AppError {
  return new AppError('invalid_grant', 'The mfa_token is invalid, expired or already used; sign in again.');
}

/** The user a live mfa_token belongs to (not consumed): for per-account throttling before the attempt. */
export async function pendingUser(d: AuthDeps, mfaToken: string): Promise<{ id: string; username: string }> {
  const pending = await peekChallenge(d.env.DB, mfaToken, 'mfa_login', d.now);
  const user = pending?.userId ? await findUserById(d.env.DB, pending.userId) : undefined;
  if (!user || user.disabled) throw badMfaToken();
  return { id: user.id, username: user.username };
}

/** Checks one factor of `userId`; returns the RFC 8176 methods it adds, or undefined when wrong. */
async function checkFactor(d: AuthDeps, userId: string, factor: FactorInput): Promise<string[] | undefined> {
  switch (factor.method) {
    case 'totp':
      return (await verifyTotp(d.env.DB, d.config, userId, factor.code, d.now)) ? ['otp'] : undefined;
    case 'recovery_code':
      // A one-time code as well (RFC 8176 has no value of its own for recovery codes).
      return (await useRecoveryCode(d.env.DB, userId, factor.code, d.now)) ? ['otp'] : undefined;
    case 'webauthn':
      try {
        return [(await verifyAssertion(d.env.DB, d.config, factor.response, userId, d.now)).amr];
      } catch (err) {
        if (err instanceof AppError && err.code === 'invalid_credentials') return undefined;
        throw err;
      }
  }
}

/**
 * A factor of the account, counted by the lockout; audits either way. Shared by the login and by
 * signed-in actions that need a current factor (disabling TOTP). Throws invalid_credentials.
 */
export async function proveFactor(d: AuthDeps, userId: string, factor: FactorInput, context: 'login' | 'disable'): Promise<string[]> {
  const attempt = await admitPasswordAttempt(d.env.DB, userId, d.now);
  if (attempt.kind === 'unknown') throw badMfaToken();
  const detail = { method: factor.method as MfaMethod, context };
  if (attempt.kind === 'locked') {
    await auditAuthEvent(d, { event: 'mfa_verify', outcome: 'failure', actorId: userId, subjectId: userId, detail: { ...detail, reason: 'locked', locked_until: attempt.lockedUntil } });
    throw new AppError('invalid_credentials');
  }
  const methods = await checkFactor(d, userId, factor);
  if (!methods) {
    await auditAuthEvent(d, { event: 'mfa_verify', outcome: 'failure', actorId: userId, subjectId: userId, detail: { ...detail, reason: 'wrong_factor', failed_logins: attempt.user.failedLogins } });
    throw new AppError('invalid_credentials', 'The code or passkey is incorrect, already used, or the account is temporarily locked.');
  }
  await clearFailedLogins(d.env.DB, userId);
  await auditAuthEvent(d, { event: 'mfa_verify', outcome: 'success', actorId: userId, subjectId: userId, detail });
  return methods;
}

/** Finishes a login: the right factor, then the token consumed once, then a session with its amr. */
export async function completeMfaLogin(d: AuthDeps, mfaToken: string, userId: string, factor: FactorInput): Promise<Issued> {
  const methods = await proveFactor(d, userId, factor, 'login');
  const consumed = await consumeChallenge(d.env.DB, mfaToken, 'mfa_login', d.now);
  if (!consumed || consumed.userId !== userId) throw badMfaToken();
  const user = await findUserById(d.env.DB, userId);
  if (!user) throw badMfaToken();
  return openSession(d, user, ['pwd', ...methods, 'mfa']);
}

/** A sign-in with a passkey alone: the credential names the account (discoverable, no username). */
export async function passkeySignIn(d: AuthDeps, response: AuthenticationResponseJSON): Promise<Issued> {
  let verified;
  try {
    verified = await verifyAssertion(d.env.DB, d.config, response, null, d.now);
  } catch (err) {
    if (err instanceof AppError && err.code === 'invalid_credentials') {
      await auditAuthEvent(d, { event: 'passkey_login', outcome: 'failure', detail: { reason: 'not_verified' } });
    }
    throw err;
  }
  const user = await findUserById(d.env.DB, verified.userId);
  if (!user || user.disabled) {
    await auditAuthEvent(d, { event: 'passkey_login', outcome: 'failure', subjectId: verified.userId, detail: { reason: user ? 'disabled' : 'unknown_user' } });
    throw new AppError('invalid_credentials');
  }
  await auditAuthEvent(d, { event: 'passkey_login', outcome: 'success', actorId: user.id, subjectId: user.id, detail: { credential: verified.credentialId } });
  // User verification makes the one passkey two factors: the device and the PIN or biometric.
  return openSession(d, user, [verified.amr, 'mfa']);
}
