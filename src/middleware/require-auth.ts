// requireAuth: the guard of every protected route. Shaped like hono/jwt's middleware; the checks
// themselves (RFC 8725 verification, revocation list, roles, fresh lookup) are
// services/authenticate.ts, shared with the RPC entrypoint. This file adds where the token comes
// from (header or cookie). Two strategies (docs/administration.md "Fresh rights"): claims only (no
// D1 read; role and account changes reach the route through the revocation list) or `fresh` (one
// D1 read per request; the stored user decides, whatever the token says).
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import type { AppEnv, AuthContext } from '../app-env';
import { ACCESS_COOKIE, CSRF_COOKIE } from '../cookies';
import type { Config } from '../config';
import { AppError, invalidToken, missingToken, stepUpRequired } from '../errors';
import { ROLE_PATTERN } from '../lib/validation';
import { authenticate, type SubjectType } from '../services/authenticate';
import { MAX_TOKEN_LENGTH } from '../tokens/access';
import { looksLikeApiKey } from '../tokens/api-key-format';
import { enforceQuota } from '../usage/quotas';

export interface RequireAuthOptions {
  /** Admit callers holding any of these roles (none: any authenticated caller). */
  roles?: string[];
  /**
   * Re-read the user from D1 on every request: a deleted or disabled user is refused with 401
   * invalid_token, and the stored roles (not the token's) decide the role check and become
   * `c.get('auth').roles`. Costs one D1 read; for administration and other sensitive routes.
   */
  fresh?: boolean;
  /**
   * The kinds of caller admitted (default: all). Routes about a signed-in person's own session
   * (logout, password, sessions, creating API keys) admit only `user`: 403 forbidden otherwise.
   */
  subjects?: readonly SubjectType[];
  /**
   * Admit only sign-ins with a second factor (amr "mfa": password plus TOTP or passkey, or a
   * passkey with user verification): 403 mfa_required otherwise. A function decides per
   * configuration (REQUIRE_MFA_FOR_ADMINS). API keys and clients have no sign-in: refused.
   */
  mfa?: boolean | ((config: Config) => boolean);
  /**
   * Admit only sign-ins younger than this many seconds (OIDC auth_time): 401 with the RFC 9470
   * `insufficient_user_authentication` challenge and `max_age` otherwise.
   */
  maxAge?: number;
}

const ALL_SUBJECTS: readonly SubjectType[] = ['user', 'api_key', 'client'];
const SUBJECT_NAMES: Record<SubjectType, string> = { user: 'a signed-in user', api_key: 'an API key', client: 'an OAuth client' };

/** The 403 message for a caller of another kind than `subjects` (requireAuth, gateway routes). */
export function subjectRefusal(subjects: readonly SubjectType[]): string {
  return `This route needs ${subjects.map((s) => SUBJECT_NAMES[s]).join(' or ')}.`;
}

// RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i;
const MAX_AUTHORIZATION_LENGTH = MAX_TOKEN_LENGTH + 16;

/**
 * The presented credential (access token or API key) and where it came from; undefined when none
 * was presented. API keys come in `Authorization: Bearer` or `X-API-Key`, never in a cookie (a
 * cookie is ambient authority a key must not have) and never in the query string.
 */
export function extractAccessToken(c: Context): { token: string; via: AuthContext['via'] } | undefined {
  const apiKey = c.req.header('X-API-Key');
  if (apiKey !== undefined) {
    if (c.req.header('Authorization') !== undefined) throw invalidToken('Send one credential: Authorization or X-API-Key, not both.');
    if (apiKey.length > MAX_AUTHORIZATION_LENGTH || !looksLikeApiKey(apiKey)) throw invalidToken('The X-API-Key header must carry an API key.');
    return { token: apiKey, via: 'api_key' };
  }
  const header = c.req.header('Authorization');
  if (header !== undefined) {
    if (header.length > MAX_AUTHORIZATION_LENGTH) throw invalidToken('The Authorization header is too long.');
    const match = BEARER.exec(header.trim());
    if (!match) {
      // Another scheme (Basic, ...) is not a bearer token at all; a broken Bearer header is bad input.
      if (/^bearer\b/i.test(header.trim())) throw invalidToken('The Authorization header must be "Bearer <token>".');
      throw missingToken();
    }
    return { token: match[1]!, via: looksLikeApiKey(match[1]!) ? 'api_key' : 'bearer' };
  }
  const cookie = getCookie(c, ACCESS_COOKIE, 'host');
  if (cookie) {
    if (looksLikeApiKey(cookie)) throw invalidToken('API keys are not accepted in cookies.');
    return { token: cookie, via: 'cookie' };
  }
  return undefined;
}

/**
 * Guards a route: the request must carry a valid credential (Bearer access token, session cookie,
 * or API key) of an admitted kind, holding any of `roles`; `c.get('auth')` then describes it.
 *
 * @param options roles (any of), `fresh` (D1 decides, one read), `subjects` (kinds of caller)
 * @example
 *   app.get('/reports', requireAuth({ roles: ['analyst'] }), (c) => c.json({ by: c.get('auth').username }))
 *   app.post('/auth/password', requireAuth({ subjects: ['user'] }), handler)
 *   app.get('/admin/users', requireAuth({ roles: ['admin'], fresh: true }), handler)
 *   app.post('/transfers', requireAuth({ mfa: true, maxAge: 300 }), handler)
 */
/** waitUntil when the runtime gave the request an execution context; otherwise the work just runs. */
function deferWork(c: Context, work: Promise<unknown>): void {
  try {
    c.executionCtx.waitUntil(work);
  } catch {
    // No ExecutionContext (app.request in a script): the promise is already running.
  }
}

/**
 * The refusal of a request that presented no credential (shared with the gateway). In cookie mode
 * the browser drops the access cookie when it expires (Max-Age = token lifetime), but the CSRF
 * cookie lives as long as the session: tell the SPA to refresh.
 */
export function noTokenError(c: Context): AppError {
  if (getCookie(c, CSRF_COOKIE, 'host')) return invalidToken('The access token has expired; refresh it.');
  return missingToken();
}

/** requireAuth's checks on a presented credential (shared with the gateway): the request's AuthContext. */
export async function verifyPresented(
  c: Context<AppEnv>,
  presented: { token: string; via: AuthContext['via'] },
  options: { roles: readonly string[]; fresh?: boolean },
): Promise<AuthContext> {
  const subject = await authenticate(c.env, c.get('config'), presented.token, c.get('now')(), {
    roles: options.roles,
    fresh: options.fresh,
    defer: (work) => deferWork(c, work),
  });
  return {
    subject: subject.type,
    userId: subject.sub,
    username: subject.username,
    sessionId: subject.sid,
    jti: subject.jti,
    roles: subject.roles,
    exp: subject.exp,
    via: presented.via,
    amr: subject.amr,
    authTime: subject.auth_time,
  };
}

export function requireAuth(options: RequireAuthOptions = {}): MiddlewareHandler<AppEnv> {
  const roles = options.roles ?? [];
  for (const role of roles) {
    if (!ROLE_PATTERN.test(role)) throw new Error(`requireAuth: invalid role name "${role}"`);
  }
  const subjects = options.subjects ?? ALL_SUBJECTS;
  if (subjects.length === 0 || subjects.some((s) => !ALL_SUBJECTS.includes(s))) throw new Error('requireAuth: subjects must name user, api_key or client');
  const refusal = subjectRefusal(subjects);
  if (options.maxAge !== undefined && (!Number.isInteger(options.maxAge) || options.maxAge < 0)) throw new Error('requireAuth: maxAge must be a whole number of seconds');
  const needsMfa = options.mfa ?? false;
  return async function requireAuthMiddleware(c, next) {
    const presented = extractAccessToken(c);
    if (!presented) throw noTokenError(c);
    const auth = await verifyPresented(c, presented, { roles, fresh: options.fresh });
    if (!subjects.includes(auth.subject)) throw new AppError('forbidden', refusal);
    if (typeof needsMfa === 'function' ? needsMfa(c.get('config')) : needsMfa) {
      if (auth.subject !== 'user' || !auth.amr?.includes('mfa')) throw new AppError('mfa_required');
    }
    if (options.maxAge !== undefined) {
      const authTime = auth.subject === 'user' ? auth.authTime : undefined;
      if (authTime === undefined || c.get('now')() - authTime > options.maxAge) throw stepUpRequired(options.maxAge);
    }
    c.set('auth', auth);
    await enforceQuota(c, auth);
    await next();
  };
}

/**
 * The guard of every /admin route: the `admin` role with a fresh check (a demoted, disabled or
 * deleted administrator, or an ended session, loses access at the next request). Users and their
 * API keys only: admin writes name a user as their actor, which an OAuth client is not.
 */
export function requireAdmin(): MiddlewareHandler<AppEnv> {
  return requireAuth({ roles: ['admin'], fresh: true, subjects: ['user', 'api_key'], mfa: (config) => config.requireMfaForAdmins });
}
