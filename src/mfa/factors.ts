// Managing one's own second factors (signed in): TOTP set-up, confirmation and removal, recovery
// codes, passkeys; and the administrator's reset. Every change is audited (never with a secret,
// code or key in the detail). Changes that add or remove a factor need a recent sign-in
// (step-up.ts); removing TOTP needs a current code or a recovery code besides.
import { findUserById } from '../db/users';
import { AppError } from '../errors';
import { auditAuthEvent, type AuthDeps } from '../services/auth';
import { proveFactor, type FactorInput } from './login';
import { countPasskeys, deleteAllPasskeys, deletePasskey, listPasskeys, renamePasskey, toPasskeyView, type PasskeyView } from './passkeys';
import { mfaMethodsOf, type MfaMethod } from './pending';
import { deleteRecoveryCodes, issueRecoveryCodes, remainingRecoveryCodes } from './recovery';
import { requireRecentSignIn } from './step-up';
import { beginTotpSetup, confirmTotp, deleteTotp, findTotp } from './totp';
import { finishRegistration, registrationOptions, type RegistrationResponseJSON } from './webauthn';

type Caller = { userId: string; sessionId: string };

async function liveUser(d: AuthDeps, userId: string) {
  const user = await findUserById(d.env.DB, userId);
  if (!user || user.disabled) throw new AppError('invalid_token', 'The account no longer exists or is disabled.');
  return user;
}

export interface MfaStatus {
  methods: MfaMethod[];
  totp: 'disabled' | 'pending' | 'enabled';
  recovery_codes_left: number;
  passkeys: number;
}

export async function mfaStatus(d: AuthDeps, userId: string): Promise<MfaStatus> {
  const [methods, totp, left, passkeys] = await Promise.all([
    mfaMethodsOf(d.env.DB, userId),
    findTotp(d.env.DB, userId),
    remainingRecoveryCodes(d.env.DB, userId),
    countPasskeys(d.env.DB, userId),
  ]);
  return { methods, totp: !totp ? 'disabled' : totp.enabledAt === null ? 'pending' : 'enabled', recovery_codes_left: left, passkeys };
}

export async function setupTotp(d: AuthDeps, caller: Caller, password: string | undefined): Promise<{ secret: string; uri: string }> {
  await requireRecentSignIn(d, caller, password, 'mfa_totp_setup');
  const user = await liveUser(d, caller.userId);
  const result = await beginTotpSetup(d.env.DB, d.config, user, d.now);
  await auditAuthEvent(d, { event: 'mfa_totp_setup', outcome: 'success', actorId: user.id, subjectId: user.id });
  return result;
}

/** Enables the pending authenticator and returns ten recovery codes, shown this once. */
export async function enableTotp(d: AuthDeps, caller: Caller, code: string): Promise<string[]> {
  if (!(await confirmTotp(d.env.DB, d.config, caller.userId, code, d.now))) {
    await auditAuthEvent(d, { event: 'mfa_totp_enable', outcome: 'failure', actorId: caller.userId, subjectId: caller.userId, detail: { reason: 'wrong_code' } });
    throw new AppError('invalid_credentials', 'The code is incorrect; check the authenticator app and the device clock.');
  }
  const codes = await issueRecoveryCodes(d.env.DB, caller.userId, d.now);
  await auditAuthEvent(d, { event: 'mfa_totp_enable', outcome: 'success', actorId: caller.userId, subjectId: caller.userId, detail: { recovery_codes: codes.length } });
  return codes;
}

export async function disableTotp(d: AuthDeps, caller: Caller, factor: FactorInput): Promise<void> {
  const totp = await findTotp(d.env.DB, caller.userId);
  if (!totp || totp.enabledAt === null) throw new AppError('conflict', 'TOTP is not enabled.');
  await proveFactor(d, caller.userId, factor, 'disable');
  await deleteTotp(d.env.DB, caller.userId);
  // Recovery codes back up the remaining factors; with none left they would be a factor of their own.
  if ((await countPasskeys(d.env.DB, caller.userId)) === 0) await deleteRecoveryCodes(d.env.DB, caller.userId);
  await auditAuthEvent(d, { event: 'mfa_totp_disable', outcome: 'success', actorId: caller.userId, subjectId: caller.userId, detail: { method: factor.method } });
}

export async function regenerateRecoveryCodes(d: AuthDeps, caller: Caller, password: string | undefined): Promise<string[]> {
  await requireRecentSignIn(d, caller, password, 'mfa_recovery_regenerate');
  const methods = await mfaMethodsOf(d.env.DB, caller.userId);
  if (!methods.includes('totp') && !methods.includes('webauthn')) throw new AppError('conflict', 'Enable a second factor first.');
  const codes = await issueRecoveryCodes(d.env.DB, caller.userId, d.now);
  await auditAuthEvent(d, { event: 'mfa_recovery_regenerate', outcome: 'success', actorId: caller.userId, subjectId: caller.userId, detail: { recovery_codes: codes.length } });
  return codes;
}

export async function passkeyRegistrationOptions(d: AuthDeps, caller: Caller, password: string | undefined): Promise<Record<string, unknown>> {
  await requireRecentSignIn(d, caller, password, 'passkey_register');
  return registrationOptions(d.env.DB, d.config, await liveUser(d, caller.userId), d.now);
}

export async function registerPasskey(d: AuthDeps, caller: Caller, response: RegistrationResponseJSON, name: string): Promise<PasskeyView> {
  try {
    const row = await finishRegistration(d.env.DB, d.config, caller.userId, response, name, d.now);
    await auditAuthEvent(d, { event: 'passkey_register', outcome: 'success', actorId: caller.userId, subjectId: caller.userId, detail: { credential: row.id, device_type: row.deviceType } });
    return toPasskeyView(row);
  } catch (err) {
    if (err instanceof AppError) await auditAuthEvent(d, { event: 'passkey_register', outcome: 'failure', actorId: caller.userId, subjectId: caller.userId, detail: { reason: err.code } });
    throw err;
  }
}

export async function ownPasskeys(d: AuthDeps, userId: string): Promise<PasskeyView[]> {
  return (await listPasskeys(d.env.DB, userId)).map(toPasskeyView);
}

export async function renameOwnPasskey(d: AuthDeps, caller: Caller, id: string, name: string): Promise<void> {
  if (!(await renamePasskey(d.env.DB, caller.userId, id, name))) throw new AppError('not_found', 'No such passkey.');
  await auditAuthEvent(d, { event: 'passkey_rename', outcome: 'success', actorId: caller.userId, subjectId: caller.userId, detail: { credential: id } });
}

export async function deleteOwnPasskey(d: AuthDeps, caller: Caller, id: string, password: string | undefined): Promise<void> {
  await requireRecentSignIn(d, caller, password, 'passkey_delete');
  if (!(await deletePasskey(d.env.DB, caller.userId, id))) throw new AppError('not_found', 'No such passkey.');
  const methods = await mfaMethodsOf(d.env.DB, caller.userId);
  if (!methods.includes('totp') && !methods.includes('webauthn')) await deleteRecoveryCodes(d.env.DB, caller.userId);
  await auditAuthEvent(d, { event: 'passkey_delete', outcome: 'success', actorId: caller.userId, subjectId: caller.userId, detail: { credential: id } });
}

/**
 * Administrator's reset (a user who lost every factor): TOTP, recovery codes and passkeys removed.
 * Sessions are kept: the user's next sign-in is by password alone, and may enrol again.
 */
export async function resetFactors(d: AuthDeps, actorId: string, userId: string): Promise<{ totp: boolean; passkeys: number }> {
  const user = await findUserById(d.env.DB, userId);
  if (!user) throw new AppError('not_found', 'No such user.');
  const [totp, passkeys] = await Promise.all([deleteTotp(d.env.DB, userId), deleteAllPasskeys(d.env.DB, userId), deleteRecoveryCodes(d.env.DB, userId)]);
  await auditAuthEvent(d, { event: 'mfa_reset', outcome: 'success', actorId, subjectId: userId, detail: { totp_removed: totp, passkeys_removed: passkeys } });
  return { totp, passkeys };
}
