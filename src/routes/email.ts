// /auth/email/*, /auth/password/forgot|reset and the development mailbox: parse, throttle, call
// services/email.ts. Every route that sends mail is throttled per client address and per
// destination (middleware/rate-limit.ts throttleMail) before any work.
import { Hono } from '../lib/hono';
import * as z from 'zod/mini';
import type { AppEnv } from '../app-env';
import { AppError } from '../errors';
import { readJson } from '../lib/body';
import { normalizeEmail } from '../lib/email';
import { readQuery } from '../lib/query';
import { email, loginPassword, password, USERNAME_PATTERN } from '../lib/validation';
import { readDevMailbox } from '../mail/dev-mailbox';
import { transportOf } from '../mail/mailer';
import { enforceRateLimit, clientBucket, rateLimitPasswordCheck, throttleMail } from '../middleware/rate-limit';
import { requireAuth } from '../middleware/require-auth';
import * as mail from '../services/email';
import { deps } from './auth';

const linkToken = z.string({ error: 'token must be a string' }).check(z.minLength(1, 'token is required'), z.maxLength(128, 'token is too long'));

export const VerifyEmailBody = z.strictObject({ token: linkToken });
export const ChangeEmailBody = z.strictObject({ new_email: email, current_password: loginPassword });
export const ForgotPasswordBody = z.strictObject({
  email: z.optional(email),
  username: z.optional(z.string({ error: 'username must be a string' }).check(z.minLength(1), z.maxLength(256, 'username is too long'))),
}).check(z.refine((v) => (v.email === undefined) !== (v.username === undefined), { message: 'send exactly one of email or username' }));
export const ResetPasswordBody = z.strictObject({ token: linkToken, new_password: password });
export const DevMailboxQuery = z.strictObject({ to: z.optional(z.string().check(z.maxLength(254))) });

/** The one answer of /auth/password/forgot, known account or not. */
export const FORGOT_ANSWER = { status: 'accepted', message: 'If the account has a verified email address, a reset link is on its way.' } as const;

const sessionOnly = requireAuth({ subjects: ['user'] });

export const emailRoutes = new Hono<AppEnv>()
  .post('/email/verify/request', sessionOnly, async (c) => {
    const caller = c.get('auth');
    await throttleMail(c, `user:${caller.userId}`);
    await mail.requestVerification(deps(c), caller.userId);
    return c.json({ status: 'sent' }, 202);
  })
  .post('/email/verify', async (c) => {
    await enforceRateLimit(c, 'RL_EMAIL_IP', `ip:${clientBucket(c)}`);
    const input = await readJson(c, VerifyEmailBody);
    const result = await mail.verifyEmail(deps(c), input.token);
    return c.json({ email: result.email, email_verified: true, changed: result.changed });
  })
  .post('/email', sessionOnly, rateLimitPasswordCheck(), async (c) => {
    const input = await readJson(c, ChangeEmailBody);
    await throttleMail(c, `addr:${normalizeEmail(input.new_email).key}`);
    await mail.requestEmailChange(deps(c), c.get('auth'), { newEmail: input.new_email, currentPassword: input.current_password });
    return c.json({ status: 'sent' }, 202);
  })
  .post('/password/forgot', async (c) => {
    const input = await readJson(c, ForgotPasswordBody);
    transportOf(c.env); // a missing binding is a misconfiguration, said for every input alike
    const target: mail.ForgotInput | undefined =
      input.email !== undefined
        ? { emailKey: normalizeEmail(input.email).key }
        : USERNAME_PATTERN.test(input.username!.normalize('NFKC'))
          ? { usernameKey: input.username!.normalize('NFKC').toLowerCase() }
          : undefined;
    // Keyed by what was asked for, never by what exists: the throttles tell nothing either.
    await throttleMail(c, input.email !== undefined ? `addr:${normalizeEmail(input.email).key}` : `user:${input.username!.normalize('NFKC').toLowerCase()}`);
    const d = deps(c);
    // Everything that depends on the account happens after the answer (services/email.ts processForgot).
    if (target) d.defer(mail.processForgot(d, target));
    return c.json(FORGOT_ANSWER, 202);
  })
  .post('/password/reset', async (c) => {
    await throttleMail(c);
    const input = await readJson(c, ResetPasswordBody);
    await mail.resetPassword(deps(c), input.token, input.new_password);
    return c.body(null, 204);
  })
  // Development only: the mails this service sent, so the flows work without a mail server.
  .get('/dev/mailbox', async (c) => {
    if (c.get('config').environment !== 'development') throw new AppError('not_found');
    const query = readQuery(c, DevMailboxQuery);
    return c.json({ messages: await readDevMailbox(c.env.KV, query.to?.trim()) });
  });
