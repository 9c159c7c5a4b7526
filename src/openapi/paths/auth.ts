// /auth: register, sign in, refresh, sign out, password, the caller's own sessions.
import * as z from 'zod/mini';
import * as routes from '../../routes/auth';
import { CookieGrant, MfaChallenge, Session, TokenGrant, User } from '../schemas';
import { ERRORS, errors, op } from '../spec';

const grant = z.union([TokenGrant, CookieGrant]);
const session = ['bearer', 'cookie'] as const;

export const authOperations = [
  op({
    method: 'post',
    path: '/auth/register',
    operationId: 'register',
    tag: 'Sign-in',
    summary: 'Create an account',
    description: 'Usernames are NFKC-normalised, case-insensitive and unique up to look-alikes. Throttled per IP.',
    security: [],
    body: routes.RegisterBody,
    responses: { 201: { description: 'The account', schema: z.strictObject({ user: User }) } },
    errors: errors(ERRORS.json, ERRORS.throttled, 'username_taken', 'registration_closed'),
  }),
  op({
    method: 'post',
    path: '/auth/login',
    operationId: 'login',
    tag: 'Sign-in',
    summary: 'Sign in with a username (or a verified email address) and password',
    description:
      '`mode: "cookie"` sets the session cookies instead of returning the tokens (allowed origins only). With a second factor enabled, the answer is an MfaChallenge. One answer for an unknown user, a wrong password, a disabled or a locked account. With REQUIRE_VERIFIED_EMAIL, a right password on an unverified address answers 403 email_unverified (and mails a new link).',
    security: [],
    body: routes.LoginBody,
    responses: {
      200: { description: 'Signed in (tokens in the body, or cookies), or a second factor is needed', schema: z.union([TokenGrant, CookieGrant, MfaChallenge]), setsCookies: true },
    },
    errors: errors(ERRORS.json, ERRORS.throttled, 'invalid_credentials', 'email_unverified', 'csrf_failed'),
  }),
  op({
    method: 'post',
    path: '/auth/refresh',
    operationId: 'refresh',
    tag: 'Sign-in',
    summary: 'Rotate the refresh token for a new access token',
    description:
      'Bearer mode: `refresh_token` in the body. Cookie mode: no body; the refresh cookie, an allowed Origin and the X-CSRF-Token header. A refresh token is single-use: reusing one after its grace period ends the session.',
    security: [],
    body: routes.RefreshBody,
    bodyOptional: true,
    responses: { 200: { description: 'A new access token and refresh token', schema: grant, setsCookies: true } },
    errors: errors(ERRORS.json, ERRORS.throttled, 'invalid_grant', 'csrf_failed'),
  }),
  op({
    method: 'post',
    path: '/auth/logout',
    operationId: 'logout',
    tag: 'Sign-in',
    summary: 'End this session (or another of the caller’s, by its refresh token)',
    security: [...session],
    body: routes.LogoutBody,
    bodyOptional: true,
    responses: { 204: { description: 'Ended; cookie mode clears the cookies', setsCookies: true } },
    errors: errors(ERRORS.json, ERRORS.auth, ERRORS.subject, 'csrf_failed'),
  }),
  op({
    method: 'post',
    path: '/auth/logout-all',
    operationId: 'logoutAll',
    tag: 'Sign-in',
    summary: 'End every session of the caller, on every device',
    security: [...session],
    responses: { 204: { description: 'Every session ended', setsCookies: true } },
    errors: errors(ERRORS.auth, ERRORS.subject, 'csrf_failed', 'payload_too_large'),
  }),
  op({
    method: 'post',
    path: '/auth/password',
    operationId: 'changePassword',
    tag: 'Account',
    summary: 'Change the password (ends the other sessions)',
    security: [...session],
    body: routes.PasswordBody,
    responses: { 204: { description: 'Changed' } },
    errors: errors(ERRORS.json, ERRORS.auth, ERRORS.subject, ERRORS.throttled, 'invalid_credentials', 'csrf_failed'),
  }),
  op({
    method: 'get',
    path: '/auth/me',
    operationId: 'me',
    tag: 'Account',
    summary: 'The signed-in user',
    security: [...session, 'apiKey'],
    responses: { 200: { description: 'The user', schema: z.strictObject({ user: User }) } },
    errors: errors(ERRORS.auth, ERRORS.subject),
  }),
  op({
    method: 'get',
    path: '/auth/sessions',
    operationId: 'listSessions',
    tag: 'Account',
    summary: 'The caller’s active sessions',
    security: [...session],
    responses: { 200: { description: 'Active sessions, the current one marked', schema: z.strictObject({ sessions: z.array(Session) }) } },
    errors: errors(ERRORS.auth, ERRORS.subject),
  }),
  op({
    method: 'delete',
    path: '/auth/sessions/{id}',
    operationId: 'endSession',
    tag: 'Account',
    summary: 'End one of the caller’s sessions',
    security: [...session],
    params: { id: routes.SessionId },
    responses: { 204: { description: 'Ended' } },
    errors: errors(ERRORS.auth, ERRORS.subject, ERRORS.notFound, 'csrf_failed', 'payload_too_large'),
  }),
];
