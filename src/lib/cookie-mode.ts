// Cookie mode: tokens travel only in HttpOnly cookies, set and cleared through hono's cookie
// helper (which enforces what the __Host-/__Secure- prefixes require).
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE, REFRESH_PATH } from '../cookies';
import { randomToken } from '../crypto/random';

export interface CookieTokens {
  accessToken: string;
  accessMaxAge: number;
  refreshToken: string;
  refreshMaxAge: number;
}

export function setSessionCookies(c: Context, tokens: CookieTokens): void {
  setCookie(c, ACCESS_COOKIE, tokens.accessToken, {
    prefix: 'host',
    httpOnly: true,
    sameSite: 'Lax',
    maxAge: tokens.accessMaxAge,
  });
  setCookie(c, REFRESH_COOKIE, tokens.refreshToken, {
    prefix: 'secure',
    httpOnly: true,
    sameSite: 'Strict',
    path: REFRESH_PATH,
    maxAge: tokens.refreshMaxAge,
  });
  // Readable by the page, sent back in the X-CSRF-Token header (double submit). Fresh per session
  // step, and lives as long as the refresh cookie so a page can always refresh.
  setCookie(c, CSRF_COOKIE, randomToken(32), {
    prefix: 'host',
    httpOnly: false,
    sameSite: 'Strict',
    maxAge: tokens.refreshMaxAge,
  });
}

export function clearSessionCookies(c: Context): void {
  deleteCookie(c, ACCESS_COOKIE, { prefix: 'host', httpOnly: true, sameSite: 'Lax' });
  deleteCookie(c, REFRESH_COOKIE, { prefix: 'secure', httpOnly: true, sameSite: 'Strict', path: REFRESH_PATH });
  deleteCookie(c, CSRF_COOKIE, { prefix: 'host', sameSite: 'Strict' });
}

export function refreshCookie(c: Context): string | undefined {
  return getCookie(c, REFRESH_COOKIE, 'secure') || undefined;
}

/** Whether the request carries any of our session cookies (ambient authority). */
export function hasSessionCookie(c: Context): boolean {
  return Boolean(getCookie(c, ACCESS_COOKIE, 'host') || getCookie(c, REFRESH_COOKIE, 'secure'));
}
