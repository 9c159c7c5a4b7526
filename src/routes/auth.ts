// /auth/*: parse, call services/auth.ts, shape the response (bearer or cookie mode).
import type { Context } from 'hono';
import { Hono } from '../lib/hono';
import * as z from 'zod/mini';
import type { AppEnv } from '../app-env';
import { findUserById, toPublicUser } from '../db/users';
import { readReplica } from '../db/replica';
import { listActiveSessions } from '../db/sessions';
import { AppError, invalidToken } from '../errors';
import { readJson } from '../lib/body';
import { clearSessionCookies, csrfMatchesRefresh, refreshCookie, setSessionCookies } from '../lib/cookie-mode';
import { errorResponse } from '../lib/error-response';
import { requestMeta } from '../lib/request-meta';
import { email, loginPassword, password, refreshToken, username, USERNAME_PATTERN } from '../lib/validation';
import { originAllowed } from '../middleware/csrf';
import { enforceRateLimit, rateLimitByIp, rateLimitPasswordCheck } from '../middleware/rate-limit';
import { requireAuth } from '../middleware/require-auth';
import * as auth from '../services/auth';
import { sessionOfRefreshToken } from '../tokens/refresh';
import { isEmailIdentifier, normalizeEmail } from '../lib/email';
import { throttleMail } from '../middleware/rate-limit';
import { transportOf } from '../mail/mailer';
import { sendVerification } from '../services/email';

export const RegisterBody = z.strictObject({ username, password, email: z.optional(email) });
/** `username` may also be an email address verified on the account (docs/email.md). */
export const LoginBody = z.strictObject({
  username: z.pipe(
    z.string({ error: 'username must be a string' }).check(z.maxLength(256, 'username is too long')),
    z.transform((u: string): auth.LoginIdentifier =>
      isEmailIdentifier(u) ? { kind: 'email', key: normalizeEmail(u).key } : { kind: 'username', username: u.normalize('NFKC'), key: u.normalize('NFKC').toLowerCase() },
    ),
  ),
  password: loginPassword,
  mode: z.optional(z.enum(['bearer', 'cookie'], { error: 'mode must be "bearer" or "cookie"' })),
});
export const RefreshBody = z.strictObject({ refresh_token: z.optional(refreshToken) });
export const LogoutBody = z.strictObject({ refresh_token: z.optional(refreshToken) });
export const PasswordBody = z.strictObject({ current_password: loginPassword, new_password: password });
export const SessionId = z.uuid();

/** Routes about the caller's own sign-in: an API key or a client token has no session to manage. */
const sessionOnly = requireAuth({ subjects: ['user'] });

export function deps(c: Context<AppEnv>): auth.AuthDeps & { defer: (work: Promise<unknown>) => void } {
  return { env: c.env, config: c.get('config'), meta: requestMeta(c), now: c.get('now')(), defer: (work) => c.executionCtx.waitUntil(work) };
}

/** RFC 6749 section 5.1 shape; in cookie mode the tokens go only into Set-Cookie. */
export async function tokenResponse(c: Context<AppEnv>, issued: auth.Issued, mode: 'bearer' | 'cookie'): Promise<Response> {
  const body = {
    token_type: 'Bearer',
    expires_in: issued.access.expiresIn,
    refresh_expires_in: issued.refreshExpiresIn,
    user: issued.user,
  };
  if (mode === 'cookie') {
    await setSessionCookies(c, c.get('config'), {
      accessToken: issued.access.token,
      accessMaxAge: issued.access.expiresIn,
      refreshToken: issued.refreshToken,
      refreshMaxAge: issued.refreshExpiresIn,
    });
    return c.json(body);
  }
  return c.json({ access_token: issued.access.token, ...body, refresh_token: issued.refreshToken });
}

export const authRoutes = new Hono<AppEnv>()
  .post('/register', rateLimitByIp('RL_REGISTER_IP'), async (c) => {
    const input = await readJson(c, RegisterBody);
    if (input.email === undefined && c.get('config').email.requireVerified) {
      throw new AppError('invalid_request', 'email is required: sign-in needs a verified address (REQUIRE_VERIFIED_EMAIL).');
    }
    // The mail's binding and throttles first: a refused registration must not have created the account.
    if (input.email !== undefined) {
      transportOf(c.env);
      await throttleMail(c, `addr:${normalizeEmail(input.email).key}`);
    }
    const d = deps(c);
    const user = await auth.register(d, input);
    if (user.email !== null) await sendVerification(d, { id: user.id, username: user.username, email: user.email, passwordGeneration: 0 });
    return c.json({ user }, 201);
  })
  .post('/login', rateLimitByIp('RL_LOGIN_IP'), async (c) => {
    const input = await readJson(c, LoginBody);
    // Per account as well, whichever addresses the guesses come from. Only names that could
    // exist: others are refused whatever the password, and the per-IP limit covers them.
    const id = input.username;
    if (id.kind === 'email') await enforceRateLimit(c, 'RL_LOGIN_USER', `email:${id.key}`);
    else if (USERNAME_PATTERN.test(id.username)) await enforceRateLimit(c, 'RL_LOGIN_USER', `user:${id.key}`);
    const mode = input.mode ?? 'bearer';
    // Login CSRF: a cookie-mode login may only come from an allowed origin.
    if (mode === 'cookie' && !originAllowed(c)) throw new AppError('csrf_failed', 'Cross-site request refused: origin not allowed.');
    const issued = await auth.login(deps(c), input);
    // A second factor is enabled: no tokens yet, only the mfa_token for POST /auth/mfa/verify.
    if ('mfaRequired' in issued) return c.json({ mfa_required: true, mfa_token: issued.mfaToken, methods: issued.methods, expires_in: issued.expiresIn });
    return tokenResponse(c, issued, mode);
  })
  .post('/refresh', rateLimitByIp('RL_REFRESH_IP'), async (c) => {
    const input = await readJson(c, RefreshBody, { optional: true });
    const cookie = refreshCookie(c);
    const presented = input.refresh_token ?? cookie;
    const mode = input.refresh_token === undefined && cookie !== undefined ? 'cookie' : 'bearer';
    if (!presented) throw new AppError('invalid_request', 'refresh_token is required.');
    if (mode === 'cookie') {
      // The cookie is the credential here, whatever else the request carries: the app-wide CSRF
      // middleware stands aside for requests with an Authorization header (their credential is
      // not ambient), so the origin rule is applied here too (audit finding 4).
      if (!originAllowed(c)) throw new AppError('csrf_failed', 'Cross-site request refused: origin not allowed.');
      if (!(await csrfMatchesRefresh(c, c.get('config'), presented))) {
        throw new AppError('csrf_failed', 'Cross-site request refused: the CSRF token does not belong to this session.');
      }
    }
    try {
      return tokenResponse(c, await auth.refresh(deps(c), presented), mode);
    } catch (err) {
      if (mode !== 'cookie' || !(err instanceof AppError)) throw err;
      clearSessionCookies(c);
      return errorResponse(c, err);
    }
  })
  .post('/logout', sessionOnly, async (c) => {
    const input = await readJson(c, LogoutBody, { optional: true });
    const caller = c.get('auth');
    const other = input.refresh_token ? await sessionOfRefreshToken(c.env, input.refresh_token) : undefined;
    await auth.logout(deps(c), caller, other);
    clearSessionCookies(c);
    return c.body(null, 204);
  })
  .post('/logout-all', sessionOnly, async (c) => {
    await auth.logoutAll(deps(c), c.get('auth'));
    clearSessionCookies(c);
    return c.body(null, 204);
  })
  .post('/password', sessionOnly, rateLimitPasswordCheck(), async (c) => {
    const input = await readJson(c, PasswordBody);
    await auth.changePassword(deps(c), c.get('auth'), { currentPassword: input.current_password, newPassword: input.new_password });
    return c.body(null, 204);
  })
  // Read-only views may come from a D1 read replica (docs/consistency.md "Read replicas").
  .get('/me', requireAuth({ subjects: ['user', 'api_key'] }), async (c) => {
    const user = await findUserById(readReplica(c.env.DB), c.get('auth').userId);
    if (!user || user.disabled) throw invalidToken('The account no longer exists or is disabled.');
    return c.json({ user: toPublicUser(user) });
  })
  .get('/sessions', sessionOnly, async (c) => {
    const caller = c.get('auth');
    const sessions = await listActiveSessions(readReplica(c.env.DB), caller.userId, c.get('now')());
    return c.json({ sessions: sessions.map((s) => ({ ...s, current: s.id === caller.sessionId })) });
  })
  .delete('/sessions/:id', sessionOnly, async (c) => {
    const id = SessionId.safeParse(c.req.param('id'));
    if (!id.success) throw new AppError('not_found', 'No such active session.');
    await auth.endOwnSession(deps(c), c.get('auth'), id.data);
    return c.body(null, 204);
  });
