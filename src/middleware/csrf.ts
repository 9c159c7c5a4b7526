// CSRF defence for cookie-authenticated unsafe requests: the request must come from an allowed
// origin (Origin, or Sec-Fetch-Site when a browser omits Origin) AND carry an X-CSRF-Token header
// equal to the CSRF cookie (double submit). Requests with an Authorization header, or with no
// session cookie at all, carry no ambient authority and are not checked.
import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import type { AppEnv } from '../app-env';
import { CSRF_COOKIE, CSRF_HEADER } from '../cookies';
import { timingSafeEqualString } from '../crypto/digest';
import { AppError } from '../errors';
import { hasSessionCookie } from '../lib/cookie-mode';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const MAX_CSRF_LENGTH = 128;

/** Same-origin or listed in ALLOWED_ORIGINS. */
export function originAllowed(c: Context<AppEnv>): boolean {
  const origin = c.req.header('Origin');
  if (origin !== undefined) {
    if (origin === 'null') return false;
    return origin === new URL(c.req.url).origin || c.get('config').allowedOrigins.includes(origin);
  }
  return c.req.header('Sec-Fetch-Site') === 'same-origin';
}

function tokenMatches(c: Context): boolean {
  const header = c.req.header(CSRF_HEADER);
  const cookie = getCookie(c, CSRF_COOKIE, 'host');
  if (!header || !cookie || header.length > MAX_CSRF_LENGTH) return false;
  return timingSafeEqualString(header, cookie);
}

/**
 * Throws csrf_failed for an unsafe request that relies on the session cookie and fails the origin
 * or double-submit check: called for every unsafe method on the API prefixes (the API middleware,
 * middleware/api-headers.ts) and on proxied gateway routes (src/gateway/proxy.ts).
 */
export function csrfCheck(c: Context<AppEnv>): void {
  if (!SAFE_METHODS.has(c.req.method) && c.req.header('Authorization') === undefined && hasSessionCookie(c)) {
    if (!originAllowed(c)) throw new AppError('csrf_failed', 'Cross-site request refused: origin not allowed.');
    if (!tokenMatches(c)) throw new AppError('csrf_failed', 'Cross-site request refused: missing or wrong CSRF token.');
  }
}
