// The response headers of every answer, computed once at module load instead of per request by a
// stack of middlewares (issue 18): security headers on everything the Worker answers, and for the
// API prefixes CORS (listed origins only, credentials allowed), no-store and the body limit.
//
// The values are exactly those hono's secureHeaders() and cors() produced with the options this
// service used, so clients see the same headers; only the per-request work is gone.
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../app-env';
import { AppError } from '../errors';
import { MAX_BODY_BYTES } from '../lib/body';
import { csrfCheck } from './csrf';

/** On every response: the API serves JSON only, so nothing may load, frame or be framed. */
export const SECURITY_HEADERS: readonly (readonly [string, string])[] = [
  ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Origin-Agent-Cluster', '?1'],
  ['Referrer-Policy', 'no-referrer'],
  ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'DENY'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
];

/** Sets the security headers on a finished response (errors and 404s included). */
export function setSecurityHeaders(headers: Headers): void {
  for (const [name, value] of SECURITY_HEADERS) headers.set(name, value);
}

// CORS for the API prefixes (Fetch standard, "CORS protocol"): a listed origin is echoed, never an
// arbitrary one, because credentials are allowed.
const ALLOW_METHODS = 'GET,POST,DELETE,PATCH,OPTIONS';
const ALLOW_HEADERS = 'Content-Type,Authorization,X-CSRF-Token';
const PREFLIGHT_MAX_AGE = '600';

function allowedOrigin(c: Context<AppEnv>): string | undefined {
  const origin = c.req.header('Origin');
  return origin !== undefined && c.get('config').allowedOrigins.includes(origin) ? origin : undefined;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const limitBody = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: () => {
    throw new AppError('payload_too_large');
  },
});

/**
 * The API prefixes (/auth, /api, /admin) in one middleware: CORS preflight answered here, CSRF
 * checked on unsafe cookie-authenticated requests, the body limit applied to requests that have a
 * body, and no-store on every answer (RFC 6749 section 5.1: tokens and user data are never cached).
 * A bearer GET costs a header lookup and a few header writes.
 */
export function apiHeaders(): MiddlewareHandler<AppEnv> {
  return async function apiHeadersMiddleware(c, next) {
    const origin = allowedOrigin(c);
    if (c.req.method === 'OPTIONS') {
      const headers = new Headers([
        ['Access-Control-Allow-Credentials', 'true'],
        ['Access-Control-Max-Age', PREFLIGHT_MAX_AGE],
        ['Access-Control-Allow-Methods', ALLOW_METHODS],
        ['Access-Control-Allow-Headers', ALLOW_HEADERS],
        ['Vary', 'Origin, Access-Control-Request-Headers'],
        ['Cache-Control', 'no-store'],
        ['Pragma', 'no-cache'],
      ]);
      if (origin) headers.set('Access-Control-Allow-Origin', origin);
      c.res = new Response(null, { status: 204, headers });
      return;
    }
    if (!SAFE_METHODS.has(c.req.method)) {
      csrfCheck(c);
      if (c.req.raw.body) await limitBody(c, next);
      else await next();
    } else {
      await next();
    }
    const headers = c.res.headers;
    if (origin) headers.set('Access-Control-Allow-Origin', origin);
    headers.set('Access-Control-Allow-Credentials', 'true');
    headers.append('Vary', 'Origin');
    headers.set('Cache-Control', 'no-store');
    headers.set('Pragma', 'no-cache');
  };
}
