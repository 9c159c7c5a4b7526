// Account mail flows (docs/email.md): verification, password reset, email change. Routes parse and
// throttle; the decisions live here, each store write one conditional statement (db/email-tokens.ts,
// db/users.ts, db/sessions.ts). Mail is delivered in the background (mail/mailer.ts) and never
// decides an answer; tokens reach only the mail, never a log line, an audit row or a response.
import { burnPasswordCheck, hashPassword } from '../crypto/password';
import { consumeEmailToken, issueEmailToken, type EmailTokenKind } from '../db/email-tokens';
import type { UserRow } from '../db/schema';
import { resetPasswordEndingSessions, type RevokedRow } from '../db/sessions';
import { applyEmailChange, findUserById, findUserForReset, markEmailVerified } from '../db/users';
import { AppError } from '../errors';
import { normalizeEmail } from '../lib/email';
import { describeError, log } from '../lib/log';
import { deliver, transportOf, type Defer, type MailTransport } from '../mail/mailer';
import { changeConfirmMail, changeNoticeMail, resetMail, resetNoticeMail, verifyMail, type MailKind, type MailMessage, type TemplateContext } from '../mail/templates';
import { endUserSessions } from '../tokens/refresh';
import { auditAuthEvent, confirmPassword, type AuthDeps } from './auth';

export type EmailDeps = AuthDeps & { defer: Defer };

function templateContext(d: AuthDeps): TemplateContext {
  return { appName: d.config.email.appName, appUrl: d.config.email.appUrl, tokenTtl: d.config.email.tokenTtl };
}

function send(d: EmailDeps, transport: MailTransport, kind: MailKind, message: MailMessage): void {
  d.defer(deliver(transport, d.env, d.config, kind, message, d.meta.requestId));
}

type Recipient = Pick<UserRow, 'id' | 'username' | 'email' | 'passwordGeneration'>;

/** Issues a token for `to` and mails its link; false when the address's hourly budget is spent. */
async function issueAndMail(
  d: EmailDeps,
  transport: MailTransport,
  kind: EmailTokenKind,
  user: Recipient,
  to: string,
  compose: (token: string) => { kind: MailKind; message: MailMessage },
): Promise<boolean> {
  const { email, key } = normalizeEmail(to);
  const token = await issueEmailToken(d.env.DB, { kind, userId: user.id, email, emailKey: key, passwordGeneration: user.passwordGeneration }, d.config.email.tokenTtl, d.now);
  if (token === undefined) return false;
  const mail = compose(token);
  send(d, transport, mail.kind, mail.message);
  return true;
}

/**
 * Sends a verification link to the account's address (registration, an explicit request, a login
 * refused as unverified). Returns false when the address's hourly budget is spent.
 */
export async function sendVerification(d: EmailDeps, user: Recipient & { email: string }): Promise<boolean> {
  const transport = transportOf(d.env);
  const sent = await issueAndMail(d, transport, 'verify', user, user.email, (token) => ({ kind: 'verify', message: verifyMail(templateContext(d), user.email, user.username, token) }));
  await auditAuthEvent(d, { event: 'email_verify_request', outcome: sent ? 'success' : 'failure', actorId: user.id, subjectId: user.id, detail: sent ? {} : { reason: 'throttled' } });
  return sent;
}

/** POST /auth/email/verify/request: a new link for the signed-in user's unverified address. */
export async function requestVerification(d: EmailDeps, userId: string): Promise<void> {
  const user = await findUserById(d.env.DB, userId);
  if (!user || user.disabled) throw new AppError('invalid_token');
  if (user.email === null) throw new AppError('invalid_request', 'The account has no email address; add one with POST /auth/email.');
  if (user.emailVerifiedAt !== null) throw new AppError('email_already_verified');
  if (!(await sendVerification(d, { ...user, email: user.email }))) throw new AppError('rate_limited', 'Too many links were sent to this address; try again in an hour.', { headers: { 'Retry-After': '3600' } });
}

/**
 * POST /auth/email/verify: a verification link proves the account's address; a change link proves
 * the new one and makes it the account's (verified) address. The token is used up either way.
 */
export async function verifyEmail(d: AuthDeps, token: string): Promise<{ email: string; changed: boolean }> {
  const used = await consumeEmailToken(d.env.DB, token, ['verify', 'change'], d.now);
  if (!used) {
    log('info', 'auth.email_verify', { requestId: d.meta.requestId, outcome: 'failure', reason: 'invalid_link' });
    throw new AppError('invalid_link');
  }
  const event = used.kind === 'change' ? 'email_change' : 'email_verify';
  const fail = async (reason: string, error: AppError) => {
    await auditAuthEvent(d, { event, outcome: 'failure', subjectId: used.userId, detail: { reason } });
    throw error;
  };
  if (used.kind === 'change') {
    if (!(await applyEmailChange(d.env.DB, used.userId, used.email, used.emailKey, d.now))) return fail('email_taken', new AppError('email_taken'));
  } else {
    const outcome = await markEmailVerified(d.env.DB, used.userId, used.emailKey, d.now);
    if (outcome === 'taken') return fail('email_taken', new AppError('email_taken'));
    if (outcome === 'stale') return fail('address_changed', new AppError('invalid_link'));
  }
  await auditAuthEvent(d, { event, outcome: 'success', actorId: used.userId, subjectId: used.userId });
  return { email: used.email, changed: used.kind === 'change' };
}

export type ForgotInput = { usernameKey: string } | { emailKey: string };

/**
 * POST /auth/password/forgot, the part after the answer: run in waitUntil, so the 202 is the same,
 * in body and in timing, whether the account exists, has a verified address, or is throttled.
 * Only a verified address receives a reset link: an address nobody proved could be a typo's.
 */
export async function processForgot(d: EmailDeps, input: ForgotInput): Promise<void> {
  try {
    const transport = transportOf(d.env);
    const user = await findUserForReset(d.env.DB, input);
    if (!user || user.disabled || user.email === null || user.emailVerifiedAt === null) {
      const reason = !user ? 'unknown_account' : user.disabled ? 'disabled' : 'no_verified_email';
      await auditAuthEvent(d, { event: 'password_forgot', outcome: 'failure', subjectId: user?.id ?? null, detail: { reason } });
      return;
    }
    const email = user.email;
    const sent = await issueAndMail(d, transport, 'reset', user, email, (token) => ({ kind: 'reset', message: resetMail(templateContext(d), email, user.username, token) }));
    await auditAuthEvent(d, { event: 'password_forgot', outcome: sent ? 'success' : 'failure', subjectId: user.id, detail: sent ? {} : { reason: 'throttled' } });
  } catch (err) {
    log('error', 'auth.password_forgot_failed', { requestId: d.meta.requestId, cause: describeError(err) });
  }
}

/**
 * POST /auth/password/reset: the token is used up first (one conditional UPDATE: of two concurrent
 * resets with one token exactly one gets past it), then the new password is stored with the next
 * password generation, the lockout cleared and every session ended (the logout-all path: D1 rows
 * and the revocation list), and a notice goes to the address.
 */
export async function resetPassword(d: EmailDeps, token: string, newPassword: string): Promise<{ sessionsEnded: number }> {
  const transport = transportOf(d.env);
  const used = await consumeEmailToken(d.env.DB, token, ['reset'], d.now);
  if (!used) {
    // The same hashing work as a valid reset: the timing does not tell a live token from a dead one.
    await burnPasswordCheck(newPassword).catch(() => undefined);
    log('info', 'auth.password_reset', { requestId: d.meta.requestId, outcome: 'failure', reason: 'invalid_link' });
    throw new AppError('invalid_link');
  }
  let newHash: string;
  try {
    newHash = await hashPassword(newPassword);
  } catch (err) {
    throw new AppError('internal_error', undefined, { cause: err });
  }
  let changed = false;
  const ended = await endUserSessions(d.env, d.config, used.userId, 'password_reset', d.now, undefined, async (): Promise<RevokedRow[]> => {
    const result = await resetPasswordEndingSessions(d.env.DB, used.userId, newHash, used.passwordGeneration, d.now);
    changed = result.changed;
    return result.revoked;
  });
  if (!changed) {
    await auditAuthEvent(d, { event: 'password_reset', outcome: 'failure', subjectId: used.userId, detail: { reason: 'password_changed' } });
    throw new AppError('invalid_link');
  }
  await auditAuthEvent(d, { event: 'password_reset', outcome: 'success', actorId: used.userId, subjectId: used.userId, detail: { sessions_ended: ended } });
  const user = await findUserById(d.env.DB, used.userId);
  if (user) send(d, transport, 'reset_notice', resetNoticeMail(templateContext(d), used.email, user.username));
  return { sessionsEnded: ended };
}

/**
 * POST /auth/email: the current password, then a confirmation link to the new address and a notice
 * to the old one. Nothing changes until the link is opened (verifyEmail). Whether another account
 * holds the new address is not said here: its mailbox's owner learns it on confirmation.
 */
export async function requestEmailChange(d: EmailDeps, caller: { userId: string }, input: { newEmail: string; currentPassword: string }): Promise<void> {
  const transport = transportOf(d.env);
  const user = await confirmPassword(d, caller.userId, input.currentPassword, 'email_change_request');
  const next = normalizeEmail(input.newEmail);
  if (user.emailKey === next.key && user.emailVerifiedAt !== null) throw new AppError('email_already_verified', 'That is already the verified address of this account.');
  const sent = await issueAndMail(d, transport, 'change', user, next.email, (token) => ({
    kind: 'change_confirm',
    message: changeConfirmMail(templateContext(d), next.email, user.username, token),
  }));
  if (!sent) {
    await auditAuthEvent(d, { event: 'email_change_request', outcome: 'failure', actorId: user.id, subjectId: user.id, detail: { reason: 'throttled' } });
    throw new AppError('rate_limited', 'Too many links were sent to this address; try again in an hour.', { headers: { 'Retry-After': '3600' } });
  }
  if (user.email !== null && user.emailKey !== next.key) send(d, transport, 'change_notice', changeNoticeMail(templateContext(d), user.email, user.username, next.email));
  await auditAuthEvent(d, { event: 'email_change_request', outcome: 'success', actorId: user.id, subjectId: user.id });
}
