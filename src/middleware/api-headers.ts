// The response headers of every answer, computed once at module load instead of per request by a
// stack of middlewares (issue 18): security headers on everything the Worker answers, and for the
// API prefixes CORS (listed origins only, credentials allowed), no-store and the body limit.
//
// The values are exactly those hono's secureHeaders() and cors() produced with the options this
// service used, so clients see the same headers; only the per-request work is gone.
import type { Context } from 'hono';
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

/**
 * On a proxied response, each where the upstream set none of its own: the two that hold whatever
 * the content is (the host is HTTPS-only; a body is never sniffed into another type). The rest
 * describe edge-auth's own JSON answers: imposed on an upstream's pages, `default-src 'none'`
 * would block their scripts and styles, `X-Frame-Options: DENY` their frames and COOP their
 * popups. The upstream owns its content policy (docs/gateway.md, "What the client receives").
 */
export const PROXY_SECURITY_HEADERS: readonly (readonly [string, string])[] = SECURITY_HEADERS.filter(([name]) =>
  ['Strict-Transport-Security', 'X-Content-Type-Options'].includes(name),
);

/**
 * Sets the security headers on a finished response (errors and 404s included); with `overwrite`
 * false (a proxied response) only those the response does not already carry.
 */
export function setSecurityHeaders(headers: Headers, overwrite = true): void {
  for (const [name, value] of SECURITY_HEADERS) if (overwrite || !headers.has(name)) headers.set(name, value);
}

// CORS for the API prefixes (Fetch standard, "CORS protocol"): a listed origin is echoed, never an
// arbitrary one, because credentials are allowed.
const ALLOW_METHODS = 'GET,POST,DELETE,PATCH,OPTIONS';
const ALLOW_HEADERS = 'Content-Type,Authorization,X-CSRF-Token,X-API-Key';
const PREFLIGHT_MAX_AGE = '600';

/** The request's Origin: null when absent, the origin when listed, false otherwise. */
function listedOrigin(c: Context<AppEnv>): string | false | null {
  const origin = c.req.raw.headers.get('Origin');
  if (origin === null) return null;
  // No configuration when it failed to parse (the answer is then the misconfiguration error).
  return c.get('config')?.allowedOrigins.includes(origin) ? origin : false;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const PREFLIGHT_HEADERS: [string, string][] = [
  ['Access-Control-Allow-Credentials', 'true'],
  ['Access-Control-Max-Age', PREFLIGHT_MAX_AGE],
  ['Access-Control-Allow-Methods', ALLOW_METHODS],
  ['Access-Control-Allow-Headers', ALLOW_HEADERS],
  ['Vary', 'Origin, Access-Control-Request-Headers'],
  ['Cache-Control', 'no-store'],
  ['Pragma', 'no-cache'],
];

const limitBody = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: () => {
    throw new AppError('payload_too_large');
  },
});

/** The prefixes under which tokens and user data are served: /auth, /api and /admin. */
export const API_PATH = /^\/(?:auth|api|admin)(?:\/|$)/;

/**
 * What the API prefixes need before their routes: a CORS preflight is answered here, CSRF is
 * checked on unsafe cookie-authenticated requests (throws csrf_failed), and the body limit wraps
 * requests that have a body. Called by the app middleware (app.ts) rather than registered as one
 * more middleware, so it costs no extra dispatch.
 */
export async function apiRequest(c: Context<AppEnv>, next: () => Promise<void>): Promise<void> {
  if (c.req.method === 'OPTIONS') {
    const headers = new Headers(PREFLIGHT_HEADERS);
    const origin = listedOrigin(c);
    if (origin) headers.set('Access-Control-Allow-Origin', origin);
    c.res = new Response(null, { status: 204, headers });
    return;
  }
  if (SAFE_METHODS.has(c.req.method)) return next();
  csrfCheck(c);
  if (c.req.raw.body) await limitBody(c, next);
  else await next();
}

/**
 * CORS and no-store on an API answer, errors included (RFC 6749 section 5.1: tokens and user
 * data are never cached). A bearer GET without an Origin header costs one header lookup and two
 * header writes.
 */
export function setApiHeaders(c: Context<AppEnv>, headers: Headers): void {
  if (c.req.method === 'OPTIONS') return; // the preflight answer has its own, complete set
  const origin = listedOrigin(c);
  // CORS is a browser protocol, and browsers send Origin on every cross-origin request: without
  // one (API clients, same-origin GETs) there is nothing to answer. The response is no-store, so
  // no cache can hand it to a request that has an Origin (the reason for Vary: Origin).
  if (origin !== null) {
    if (origin) headers.set('Access-Control-Allow-Origin', origin);
    headers.set('Access-Control-Allow-Credentials', 'true');
    headers.append('Vary', 'Origin');
  }
  setNoStore(headers);
}

/** The OAuth endpoints (RFC 6749, 7662, 7009): called by servers with form bodies, never with cookies. */
export const OAUTH_PATH = /^\/oauth(?:\/|$)/;

/** What /oauth/* needs before its routes: the body limit (no CORS: servers, not browsers; no CSRF: no cookies). */
export async function oauthRequest(c: Context<AppEnv>, next: () => Promise<void>): Promise<void> {
  if (c.req.raw.body) await limitBody(c, next);
  else await next();
}

/** RFC 6749 section 5.1: responses carrying tokens are never stored by a cache. */
export function setNoStore(headers: Headers): void {
  headers.set('Cache-Control', 'no-store');
  headers.set('Pragma', 'no-cache');
}
