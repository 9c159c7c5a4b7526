// Account operations behind the /auth routes: registration, login, refresh, password change.
// Routes parse and shape; the decisions live here.
import type { Config, Env } from '../config';
import { burnPasswordCheck, hashPassword, PasswordHashError, verifyPassword } from '../crypto/password';
import { recordAudit, type AuditEvent } from '../db/audit';
import { admitEmailLoginAttempt, admitLoginAttempt, admitPasswordAttempt, clearFailedLogins, type AttemptOutcome } from '../db/lockout';
import { commitLogin } from '../db/login';
import { findUserById, insertUser, parseRoles, setPasswordHash, toPublicUser, type PublicUser } from '../db/users';
import type { UserRow } from '../db/schema';
import { setPasswordEndingSessions } from '../db/sessions';
import { AppError } from '../errors';
import { logAuthEvent, type AuthLogEvent } from '../lib/log';
import type { RequestMeta } from '../lib/request-meta';
import { USERNAME_PATTERN } from '../lib/validation';
import { signAccessToken, type IssuedAccessToken } from '../tokens/access';
import { startMfaLogin, type MfaPending } from '../mfa/pending';
// A cycle (email.ts uses this module's audit and password check), used only at run time.
import { sendVerification } from './email';
import { keyRing } from '../tokens/keys';
import { endSessions, endUserSessions, newSession, putSessionRecord, rotateRefreshToken, startSession, type IssuedRefresh } from '../tokens/refresh';

export interface Issued {
  access: IssuedAccessToken;
  refreshToken: string;
  refreshExpiresIn: number;
  user: PublicUser;
  sessionId: string;
}

interface Deps {
  env: Env;
  config: Config;
  meta: RequestMeta;
  now: number;
  /** Background work after the answer (waitUntil): mail. Absent where nothing is sent. */
  defer?: (work: Promise<unknown>) => void;
}

/** Hashing failures are logged by name only and surface as a generic 500: no detail leaks. */
async function hashOrFail(password: string): Promise<string> {
  try {
    return await hashPassword(password);
  } catch (err) {
    throw err instanceof PasswordHashError ? new AppError('internal_error', undefined, { cause: err }) : err;
  }
}

type AuthAuditEntry = Parameters<typeof recordAudit>[1] & { event: AuthLogEvent };

/** The JSON log line for operations that goes with an audit row, joined by the request id. */
function logAudit(d: Deps, entry: AuthAuditEntry): void {
  const detail = entry.detail ?? {};
  logAuthEvent(d.meta.requestId, entry.event, entry.outcome, {
    userId: entry.subjectId ?? entry.actorId ?? null,
    sessionId: typeof detail.session === 'string' ? detail.session : null,
    reason: typeof detail.reason === 'string' ? detail.reason : undefined,
    count: typeof detail.sessions_ended === 'number' ? detail.sessions_ended : undefined,
  });
}

/** Request context every audit row carries. */
function withMeta(d: Deps, entry: AuthAuditEntry): AuthAuditEntry {
  return { ip: d.meta.ip, userAgent: d.meta.userAgent, requestId: d.meta.requestId, ...entry };
}

/** The D1 audit row (the record) plus a JSON log line for operations, joined by the request id. */
function audit(d: Deps, entry: AuthAuditEntry): Promise<void> {
  logAudit(d, entry);
  return recordAudit(d.env.DB, withMeta(d, entry), d.now);
}

export async function register(
  d: Deps,
  input: { username: { username: string; key: string; skeleton: string }; password: string; email?: string | undefined },
): Promise<PublicUser> {
  if (!d.config.registrationOpen) throw new AppError('registration_closed');
  const passwordHash = await hashOrFail(input.password);
  const row = await insertUser(
    d.env.DB,
    { username: input.username.username, usernameKey: input.username.key, usernameSkeleton: input.username.skeleton, email: input.email ?? null, passwordHash, roles: [] },
    d.now,
  );
  if (!row) throw new AppError('username_taken');
  await audit(d, { event: 'register', outcome: 'success', actorId: row.id, subjectId: row.id });
  return toPublicUser(row);
}

async function issueFor(d: Deps, user: UserRow, session: IssuedRefresh): Promise<Issued> {
  const { sessionId, refreshToken, refreshExpiresAt, amr, authTime } = session;
  const access = await signAccessToken(
    keyRing(d.env.DB, d.config),
    d.config,
    { userId: user.id, username: user.username, sessionId, roles: parseRoles(user.roles), amr, authTime },
    d.now,
  );
  return { access, refreshToken, refreshExpiresIn: refreshExpiresAt - d.now, user: toPublicUser(user), sessionId };
}

/**
 * Same answer for an unknown user, a wrong password, a disabled account and a locked account,
 * with the same hashing work and the same D1 round trips in each case, so neither the body nor
 * the timing tells which it was (docs/security.md "Account enumeration").
 */
export async function login(d: Deps, input: { username: LoginIdentifier; password: string }): Promise<Issued | MfaPending> {
  const id = input.username;
  const attempt: AttemptOutcome =
    id.kind === 'email'
      ? await admitEmailLoginAttempt(d.env.DB, id.key, d.now)
      : USERNAME_PATTERN.test(id.username)
        ? await admitLoginAttempt(d.env.DB, id.key, d.now)
        : { kind: 'unknown' };
  if (attempt.kind !== 'admitted') {
    // A locked account's password is not checked at all: the answer cannot depend on it.
    await burnPasswordCheck(input.password).catch(() => undefined);
    await audit(
      d,
      attempt.kind === 'locked'
        ? { event: 'login', outcome: 'failure', subjectId: attempt.userId, detail: { reason: 'locked', locked_until: attempt.lockedUntil } }
        : { event: 'login', outcome: 'failure', detail: { reason: 'unknown_user' } },
    );
    throw new AppError('invalid_credentials');
  }
  const user = attempt.user;
  let verified;
  try {
    verified = await verifyPassword(input.password, user.passwordHash);
  } catch (err) {
    throw new AppError('internal_error', undefined, { cause: err });
  }
  if (!verified.ok || user.disabled) {
    await audit(d, { event: 'login', outcome: 'failure', subjectId: user.id, detail: failureDetail(verified.ok ? 'disabled' : 'bad_password', user, d.now) });
    throw new AppError('invalid_credentials');
  }
  if (needsVerifiedEmail(d, user)) {
    await clearFailedLogins(d.env.DB, user.id); // the password was right: not a failed guess
    await refuseUnverified(d, user);
  }
  // A second factor (src/mfa): the password only earns an mfa_token, and the failure count stays
  // until the factor is verified too, so knowing the password cannot reset the code-guessing lockout.
  // The factors came with the attempt (one batch): no extra round trip for accounts without one.
  const mfa = await startMfaLogin(d.env, d.config, user.id, d.now, attempt.factors);
  if (mfa) {
    if (verified.needsRehash) {
      // Conditional: if the password changed meanwhile, keep the new one.
      await setPasswordHash(d.env.DB, user.id, await hashOrFail(input.password), d.now, user.passwordHash);
    }
    await audit(d, { event: 'login', outcome: 'success', actorId: user.id, subjectId: user.id, detail: { reason: 'mfa_required', methods: mfa.methods } });
    return mfa;
  }
  const upgradedHash = verified.needsRehash ? await hashOrFail(input.password) : undefined;

  // Last D1 round trip (db/login.ts): the failed-login reset, the hash upgrade, the session (only
  // if the user is still as verified) and the audit row of the outcome, in one batch. The refresh
  // token's KV record and the access token (the key ring may load from D1) are prepared at the
  // same time; both are thrown away if the session was not created.
  const pending = await newSession(d.config, user.id, d.meta, d.now);
  const success: AuthAuditEntry = { event: 'login', outcome: 'success', actorId: user.id, subjectId: user.id, detail: { session: pending.sessionId, amr: pending.amr } };
  const failure: AuthAuditEntry = { event: 'login', outcome: 'failure', subjectId: user.id, detail: { reason: 'changed_during_login' } };
  const [created, , access] = await Promise.all([
    commitLogin(d.env.DB, { session: pending.row, verified: { passwordHash: user.passwordHash, roles: user.roles }, upgradedHash, success: withMeta(d, success), failure: withMeta(d, failure) }, d.now),
    putSessionRecord(d.env.KV, pending, d.now),
    signAccessToken(keyRing(d.env.DB, d.config), d.config, { userId: user.id, username: user.username, sessionId: pending.sessionId, roles: parseRoles(user.roles), amr: pending.amr, authTime: pending.authTime }, d.now),
  ]);
  logAudit(d, created ? success : failure);
  if (!created) throw new AppError('invalid_credentials');
  return { access, refreshToken: pending.refreshToken, refreshExpiresIn: pending.refreshExpiresAt - d.now, user: toPublicUser(user), sessionId: pending.sessionId };
}

/**
 * Starts a session for a user whose sign-in is verified another way: by password and a second
 * factor, or by a passkey alone (src/mfa/login.ts). `amr` (RFC 8176) is stored on the session and
 * carried by every access token of it. The session is created only if the user is still as
 * verified (password, roles, enabled).
 */
export async function openSession(d: Deps, user: UserRow, amr: readonly string[] = ['pwd']): Promise<Issued> {
  if (needsVerifiedEmail(d, user)) await refuseUnverified(d, user);
  const session = await startSession(d.env, d.config, user.id, { passwordHash: user.passwordHash, roles: user.roles }, d.meta, d.now, amr);
  if (!session) {
    await audit(d, { event: 'login', outcome: 'failure', subjectId: user.id, detail: { reason: 'changed_during_login' } });
    throw new AppError('invalid_credentials');
  }
  await audit(d, { event: 'login', outcome: 'success', actorId: user.id, subjectId: user.id, detail: { session: session.sessionId, amr: [...amr] } });
  return issueFor(d, user, session);
}

/** A login identifier (routes/auth.ts LoginBody): a username, or an address verified on the account. */
export type LoginIdentifier = { kind: 'username'; username: string; key: string } | { kind: 'email'; key: string };

function needsVerifiedEmail(d: Deps, user: UserRow): boolean {
  return d.config.email.requireVerified && (user.email === null || user.emailVerifiedAt === null);
}

/**
 * REQUIRE_VERIFIED_EMAIL: refused after the password (or passkey) check, so the answer tells nothing
 * to someone without it, and before the second factor (decided in docs/email.md). A new link goes
 * to the address (in the background, within its hourly budget), so the user is never stuck.
 */
async function refuseUnverified(d: Deps, user: UserRow): Promise<never> {
  await audit(d, { event: 'login', outcome: 'failure', subjectId: user.id, detail: { reason: 'email_unverified' } });
  if (user.email === null) throw new AppError('email_unverified', 'This account has no email address to verify; ask an administrator to add one.');
  const { defer } = d;
  if (defer) {
    await sendVerification({ ...d, defer }, { ...user, email: user.email }).catch((err: unknown) => {
      logAuthEvent(d.meta.requestId, 'email_verify_request', 'failure', { userId: user.id, reason: err instanceof AppError ? err.code : 'error' });
    });
  }
  throw new AppError('email_unverified');
}

/** The audit detail of a counted failure: how many in a row, and the lock it started, if any. */
function failureDetail(reason: string, counted: UserRow, now: number): Record<string, string | number> {
  const detail: Record<string, string | number> = { reason, failed_logins: counted.failedLogins };
  if (counted.lockedUntil !== null && counted.lockedUntil > now) detail.locked_until = counted.lockedUntil;
  return detail;
}

export async function refresh(d: Deps, presented: string): Promise<Issued> {
  let outcome;
  try {
    outcome = await rotateRefreshToken(d.env, d.config, presented, d.meta, d.now);
  } catch (err) {
    // Unknown, expired or ended: not audited (no user to attach it to), but worth counting.
    if (err instanceof AppError && err.code === 'invalid_grant') logAuthEvent(d.meta.requestId, 'refresh', 'failure', { reason: 'invalid_grant' });
    throw err;
  }
  if (outcome.kind === 'reuse') {
    await audit(d, {
      event: 'refresh_reuse_detected',
      outcome: 'failure',
      subjectId: outcome.userId,
      detail: { session: outcome.sessionId, action: 'session_revoked' },
    });
    throw new AppError('invalid_grant');
  }
  // Roles and the disabled flag are read fresh on every refresh: by the rotation's own batch, or
  // (inside the grace window) here, while the bookkeeping write lands.
  const user = outcome.kind === 'rotated' ? outcome.user : await findUserById(d.env.DB, outcome.userId);
  if (!user || user.disabled) {
    await outcome.stored;
    await endSessions(d.env, d.config, [outcome.sessionId], user ? 'user_disabled' : 'user_deleted', d.now);
    logAuthEvent(d.meta.requestId, 'refresh', 'failure', { userId: outcome.userId, sessionId: outcome.sessionId, reason: user ? 'user_disabled' : 'user_deleted' });
    throw new AppError('invalid_grant');
  }
  // The access token is signed while the successor's KV record is written.
  const [issued] = await Promise.all([issueFor(d, user, outcome), outcome.stored]);
  logAuthEvent(d.meta.requestId, 'refresh', 'success', { userId: user.id, sessionId: outcome.sessionId, reason: outcome.kind === 'grace' ? 'grace_window' : undefined });
  return issued;
}

/**
 * Verifies the caller's current password for a signed-in action (password change, step-up). It
 * counts toward the same lockout as login: a stolen access token must not become an unthrottled
 * password-guessing oracle. Returns the user as read; audits and throws invalid_credentials otherwise.
 */
export async function confirmPassword(d: Deps, userId: string, password: string, event: AuthLogEvent & AuditEvent): Promise<UserRow> {
  const attempt = await admitPasswordAttempt(d.env.DB, userId, d.now);
  if (attempt.kind === 'unknown') throw new AppError('invalid_token');
  if (attempt.kind === 'locked') {
    await burnPasswordCheck(password).catch(() => undefined);
    await audit(d, { event, outcome: 'failure', actorId: userId, subjectId: userId, detail: { reason: 'locked', locked_until: attempt.lockedUntil } });
    throw new AppError('invalid_credentials');
  }
  const user = attempt.user;
  const verified = await verifyPassword(password, user.passwordHash).catch((err: unknown) => {
    throw new AppError('internal_error', undefined, { cause: err });
  });
  if (!verified.ok) {
    await audit(d, { event, outcome: 'failure', actorId: user.id, subjectId: user.id, detail: failureDetail('bad_password', user, d.now) });
    throw new AppError('invalid_credentials');
  }
  await clearFailedLogins(d.env.DB, user.id);
  return user;
}

export async function changePassword(
  d: Deps,
  caller: { userId: string; sessionId: string },
  input: { currentPassword: string; newPassword: string },
): Promise<void> {
  const user = await confirmPassword(d, caller.userId, input.currentPassword, 'password_change');
  const newHash = await hashOrFail(input.newPassword);
  const ended = await endUserSessions(d.env, d.config, user.id, 'password_change', d.now, caller.sessionId, () =>
    setPasswordEndingSessions(d.env.DB, user.id, newHash, d.now, caller.sessionId),
  );
  await audit(d, { event: 'password_change', outcome: 'success', actorId: user.id, subjectId: user.id, detail: { sessions_ended: ended } });
}

export async function logout(d: Deps, caller: { userId: string; sessionId: string }, otherSessionId?: string): Promise<void> {
  const ids = otherSessionId && otherSessionId !== caller.sessionId ? [caller.sessionId, otherSessionId] : [caller.sessionId];
  await endSessions(d.env, d.config, ids, 'logout', d.now, caller.userId);
  await audit(d, { event: 'logout', outcome: 'success', actorId: caller.userId, subjectId: caller.userId, detail: { session: caller.sessionId } });
}

export async function logoutAll(d: Deps, caller: { userId: string }): Promise<void> {
  const ended = await endUserSessions(d.env, d.config, caller.userId, 'logout_all', d.now);
  await audit(d, { event: 'logout_all', outcome: 'success', actorId: caller.userId, subjectId: caller.userId, detail: { sessions_ended: ended } });
}

export async function endOwnSession(d: Deps, caller: { userId: string }, sessionId: string): Promise<void> {
  const ended = await endSessions(d.env, d.config, [sessionId], 'user_ended', d.now, caller.userId);
  if (ended === 0) throw new AppError('not_found', 'No such active session.');
  await audit(d, { event: 'session_end', outcome: 'success', actorId: caller.userId, subjectId: caller.userId, detail: { session: sessionId } });
}

export type { Deps as AuthDeps };
export { audit as auditAuthEvent };
