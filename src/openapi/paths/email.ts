// /auth/email, /auth/password/forgot|reset, /auth/dev/mailbox: account mail (docs/email.md).
import * as z from 'zod/mini';
import * as routes from '../../routes/email';
import { DevMail } from '../schemas';
import { ERRORS, errors, op } from '../spec';

const session = ['bearer', 'cookie'] as const;
const sent = z.strictObject({ status: z.literal('sent') });

export const emailOperations = [
  op({
    method: 'post',
    path: '/auth/email/verify/request',
    operationId: 'requestEmailVerification',
    tag: 'Account mail',
    summary: 'Mail a new verification link to the account’s address',
    security: [...session],
    responses: { 202: { description: 'A link is on its way (sent after the answer)', schema: sent } },
    errors: errors(ERRORS.auth, ERRORS.subject, ERRORS.throttled, 'invalid_request', 'email_already_verified'),
  }),
  op({
    method: 'post',
    path: '/auth/email/verify',
    operationId: 'verifyEmail',
    tag: 'Account mail',
    summary: 'Confirm an address with the token of a mailed link (verification or change)',
    description: 'The token comes from the link’s URL fragment; single use, 30 minutes by default.',
    security: [],
    body: routes.VerifyEmailBody,
    responses: {
      200: { description: 'The address is verified (`changed`: it replaced the previous one)', schema: z.strictObject({ email: z.string(), email_verified: z.literal(true), changed: z.boolean() }) },
    },
    errors: errors(ERRORS.json, ERRORS.throttled, 'invalid_link', 'email_taken'),
  }),
  op({
    method: 'post',
    path: '/auth/email',
    operationId: 'changeEmail',
    tag: 'Account mail',
    summary: 'Change the address: a link to the new one, a notice to the old one',
    description: 'Nothing changes until the link mailed to the new address is confirmed with POST /auth/email/verify.',
    security: [...session],
    body: routes.ChangeEmailBody,
    responses: { 202: { description: 'The confirmation link is on its way', schema: sent } },
    errors: errors(ERRORS.json, ERRORS.auth, ERRORS.subject, ERRORS.throttled, 'invalid_credentials', 'email_already_verified'),
  }),
  op({
    method: 'post',
    path: '/auth/password/forgot',
    operationId: 'forgotPassword',
    tag: 'Account mail',
    summary: 'Ask for a password-reset link (by email or username)',
    description: 'Always the same 202, body and timing, whether or not the account exists or has a verified address: the lookup and the mail happen after the answer.',
    security: [],
    body: routes.ForgotPasswordBody,
    responses: { 202: { description: 'Accepted', schema: z.strictObject({ status: z.literal('accepted'), message: z.string() }) } },
    errors: errors(ERRORS.json, ERRORS.throttled),
  }),
  op({
    method: 'post',
    path: '/auth/password/reset',
    operationId: 'resetPassword',
    tag: 'Account mail',
    summary: 'Set a new password with the token of a reset link; ends every session',
    security: [],
    body: routes.ResetPasswordBody,
    responses: { 204: { description: 'The password is changed, every session ended, a notice mailed' } },
    errors: errors(ERRORS.json, ERRORS.throttled, 'invalid_link'),
  }),
  op({
    method: 'get',
    path: '/auth/dev/mailbox',
    operationId: 'devMailbox',
    tag: 'Account mail',
    summary: 'Development only: the mails this server sent (404 anywhere else)',
    security: [],
    query: routes.DevMailboxQuery,
    responses: { 200: { description: 'Newest first', schema: z.strictObject({ messages: z.array(DevMail) }) } },
    errors: errors(ERRORS.query, 'not_found'),
  }),
];
