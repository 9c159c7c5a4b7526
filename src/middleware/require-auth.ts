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
import { invalidToken, missingToken, type AppError } from '../errors';
import { ROLE_PATTERN } from '../lib/validation';
import { authenticate } from '../services/authenticate';
import { MAX_TOKEN_LENGTH } from '../tokens/access';

export interface RequireAuthOptions {
  /** Admit callers holding any of these roles (none: any authenticated caller). */
  roles?: string[];
  /**
   * Re-read the user from D1 on every request: a deleted or disabled user is refused with 401
   * invalid_token, and the stored roles (not the token's) decide the role check and become
   * `c.get('auth').roles`. Costs one D1 read; for administration and other sensitive routes.
   */
  fresh?: boolean;
}

// RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i;
const MAX_AUTHORIZATION_LENGTH = MAX_TOKEN_LENGTH + 16;

/** The presented access token and where it came from; undefined when none was presented. */
export function extractAccessToken(c: Context): { token: string; via: AuthContext['via'] } | undefined {
  const header = c.req.header('Authorization');
  if (header !== undefined) {
    if (header.length > MAX_AUTHORIZATION_LENGTH) throw invalidToken('The Authorization header is too long.');
    const match = BEARER.exec(header.trim());
    if (!match) {
      // Another scheme (Basic, ...) is not a bearer token at all; a broken Bearer header is bad input.
      if (/^bearer\b/i.test(header.trim())) throw invalidToken('The Authorization header must be "Bearer <token>".');
      throw missingToken();
    }
    return { token: match[1]!, via: 'bearer' };
  }
  const cookie = getCookie(c, ACCESS_COOKIE, 'host');
  if (cookie) return { token: cookie, via: 'cookie' };
  return undefined;
}

/**
 * The refusal of a request that presented no access token. In cookie mode the browser drops the
 * access cookie when it expires (Max-Age = token lifetime), but the CSRF cookie lives as long as
 * the session: tell the SPA to refresh.
 */
export function noTokenError(c: Context): AppError {
  if (getCookie(c, CSRF_COOKIE, 'host')) return invalidToken('The access token has expired; refresh it.');
  return missingToken();
}

/** The checks of requireAuth on a presented token (shared with the gateway): the request's AuthContext. */
export async function verifyPresented(
  c: Context<AppEnv>,
  presented: { token: string; via: AuthContext['via'] },
  options: { roles: readonly string[]; fresh?: boolean },
): Promise<AuthContext> {
  const claims = await authenticate(c.env, c.get('config'), presented.token, c.get('now')(), { roles: options.roles, fresh: options.fresh });
  return { userId: claims.sub, username: claims.username, sessionId: claims.sid, jti: claims.jti, roles: claims.roles, exp: claims.exp, via: presented.via };
}

/**
 * Guards a route: 401 without a valid, unrevoked access token (Bearer header or cookie), 403
 * insufficient_scope without one of `roles`; then `c.get('auth')` holds the caller.
 *
 * @example
 * app.get('/api/private', requireAuth(), (c) => c.json({ id: c.get('auth').userId }));
 * app.get('/api/admin', requireAuth({ roles: ['admin'], fresh: true }), handler);
 */
export function requireAuth(options: RequireAuthOptions = {}): MiddlewareHandler<AppEnv> {
  const roles = options.roles ?? [];
  for (const role of roles) {
    if (!ROLE_PATTERN.test(role)) throw new Error(`requireAuth: invalid role name "${role}"`);
  }
  return async function requireAuthMiddleware(c, next) {
    const presented = extractAccessToken(c);
    if (!presented) throw noTokenError(c);
    c.set('auth', await verifyPresented(c, presented, { roles, fresh: options.fresh }));
    await next();
  };
}
