// What crosses the gateway in each direction. Inbound, the upstream must learn the caller only from
// headers edge-auth wrote: every client-sent identity header is dropped, and so are edge-auth's own
// credentials (an upstream holding them could act as the user against edge-auth). Outbound, the
// upstream cannot set or clear edge-auth's cookies, so it can neither log a user out nor plant a
// session. Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection and never cross.
import type { AuthContext } from '../app-env';
import { ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE } from '../cookies';
import { AppError } from '../errors';
import { PROXY_SECURITY_HEADERS } from '../middleware/api-headers';
import { ASSERTION_HEADER, type SubjectType } from './assertion';

/** Every header edge-auth adds about the caller starts with this; clients' copies are removed. */
export const IDENTITY_PREFIX = 'x-edge-auth-';
export const IDENTITY_HEADERS = {
  userId: 'X-Edge-Auth-User-Id',
  username: 'X-Edge-Auth-Username',
  roles: 'X-Edge-Auth-Roles',
  sessionId: 'X-Edge-Auth-Session-Id',
  subjectType: 'X-Edge-Auth-Subject-Type',
  assertion: ASSERTION_HEADER,
} as const;

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
/**
 * Headers a client could forge to claim an address, a scheme, an identity, a method or a path the
 * gateway did not check; the gateway writes its own where they matter. Every `X-Forwarded-*` goes
 * (oauth2-proxy's X-Forwarded-User/-Email/-Groups, -Prefix, -Port, -Ssl, ...), and so do other
 * proxies' identity headers and the method and URL overrides some frameworks honour (a route's
 * `methods` and path are what edge-auth checked). X-API-Key is an edge-auth credential.
 */
const FORWARDING = new Set([
  'forwarded', 'x-real-ip', 'x-client-ip', 'true-client-ip', 'x-request-id', 'x-api-key',
  'remote-user', 'x-remote-user', 'x-authenticated-user', 'x-user', 'x-email',
  'x-original-method', 'x-original-url', 'x-original-uri', 'x-rewrite-url',
]);
/**
 * Method overrides some frameworks honour: refused rather than dropped, since dropping one would
 * silently change what the request means (a POST meant as PATCH). The route checked the method
 * on the request line; send that one.
 */
const METHOD_OVERRIDES = new Set(['x-http-method-override', 'x-http-method', 'x-method-override']);
/** Name prefixes dropped whole: forwarding data, oauth2-proxy's and Cloudflare Access's identity headers. */
const FORWARDING_PREFIXES = ['x-forwarded-', 'x-auth-request-', 'cf-access-'];
const OWN_COOKIES = new Set([ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE]);

/** edge-auth's cookies, whatever prefix a client put on them. */
function isOwnCookie(name: string): boolean {
  return OWN_COOKIES.has(name.replace(/^__(Host|Secure)-/, ''));
}

/**
 * A Set-Cookie an upstream may not pass on: one of edge-auth's cookies, or a nameless one
 * (`=__Host-edge_access=x`, or no `=` at all): a browser that accepts those sends them back as
 * `__Host-edge_access=x`, a planted session. No application needs a nameless cookie.
 */
function isForbiddenSetCookie(setCookie: string): boolean {
  const pair = setCookie.split(';', 1)[0]!;
  const eq = pair.indexOf('=');
  const name = eq < 0 ? '' : pair.slice(0, eq).trim();
  return name === '' || isOwnCookie(name);
}

/** The Cookie header without edge-auth's cookies; null when nothing is left. */
export function withoutOwnCookies(cookie: string): string | null {
  const kept = cookie.split(';').map((part) => part.trim()).filter((part) => part !== '' && !isOwnCookie(part.split('=', 1)[0]!.trim()));
  return kept.length > 0 ? kept.join('; ') : null;
}

export interface ForwardContext {
  auth: AuthContext | undefined;
  /** The Authorization header carried an edge-auth credential (access token or API key; removed). */
  bearer: boolean;
  requestId: string;
  clientIp: string | null;
  url: URL;
  assertion: string;
  websocket: boolean;
}

/**
 * Names a client may not pass on: hop-by-hop, forgeable forwarding and identity headers,
 * credentials checked below. A method override throws (400) instead. A name is judged with `_`
 * read as `-` too: CGI-style servers (Rack, WSGI, PHP) map both to the same variable, so
 * `X_Edge_Auth_User_Id` would reach them as HTTP_X_EDGE_AUTH_USER_ID.
 */
function droppedInbound(name: string, connectionNamed: readonly string[]): boolean {
  const canonical = name.includes('_') ? name.replaceAll('_', '-') : name;
  if (METHOD_OVERRIDES.has(canonical)) {
    throw new AppError('invalid_request', 'Method override headers (X-HTTP-Method-Override and the like) are not forwarded: send the request with its own method.');
  }
  return (
    canonical.startsWith(IDENTITY_PREFIX) ||
    HOP_BY_HOP.has(canonical) ||
    FORWARDING.has(canonical) ||
    FORWARDING_PREFIXES.some((prefix) => canonical.startsWith(prefix)) ||
    canonical === 'host' ||
    connectionNamed.includes(name)
  );
}

/** The header names a Connection header lists (RFC 9110 section 7.6.1): hop-by-hop too. */
function connectionNamed(headers: Headers): readonly string[] {
  const connection = headers.get('connection');
  return connection === null ? [] : connection.toLowerCase().split(',').map((s) => s.trim());
}

/**
 * Turns `headers`, a mutable copy of the client's (the upstream Request's own, copied natively by
 * its constructor), into what the upstream receives. The names are read once, and only those
 * present are removed: a natively copied header list with a few deletions and additions costs the
 * Worker much less than rebuilding it entry by entry (bench/, docs/performance.md).
 */
export function shapeUpstreamHeaders(headers: Headers, ctx: ForwardContext): void {
  const named = connectionNamed(headers);
  const drop: string[] = [];
  let cookie = false;
  for (const name of headers.keys()) {
    if (droppedInbound(name, named)) drop.push(name);
    else if (name === 'authorization') {
      if (ctx.bearer || /^\s*bearer\b/i.test(headers.get(name)!)) drop.push(name);
    } else if (name === 'cookie') cookie = true;
  }
  // Changed after the pass, never while iterating.
  for (const name of drop) headers.delete(name);
  if (cookie) {
    const kept = withoutOwnCookies(headers.get('cookie')!);
    if (kept === null) headers.delete('cookie');
    else headers.set('cookie', kept);
  }
  if (ctx.websocket) {
    // The one hop-by-hop exchange that must reach the upstream: fetch() turns it into a WebSocket.
    headers.set('upgrade', 'websocket');
    headers.set('connection', 'Upgrade');
  }

  headers.set(IDENTITY_HEADERS.subjectType, ctx.auth ? ctx.auth.subject : 'anonymous');
  if (ctx.auth) {
    headers.set(IDENTITY_HEADERS.userId, ctx.auth.userId);
    // Percent-encoded: unchanged for usernames (their alphabet is ASCII letters, digits, . _ -),
    // but an OAuth client's name may be any Unicode text, which a header value cannot carry.
    headers.set(IDENTITY_HEADERS.username, encodeURIComponent(ctx.auth.username));
    headers.set(IDENTITY_HEADERS.roles, ctx.auth.roles.join(','));
    headers.set(IDENTITY_HEADERS.sessionId, ctx.auth.sessionId);
  }
  headers.set(IDENTITY_HEADERS.assertion, ctx.assertion);
  headers.set('x-request-id', ctx.requestId);
  if (ctx.clientIp) headers.set('x-forwarded-for', ctx.clientIp);
  headers.set('x-forwarded-proto', ctx.url.protocol.slice(0, -1));
  headers.set('x-forwarded-host', ctx.url.host);
}

/**
 * Turns `headers`, a mutable copy of the upstream's (the client Response's own), into what the
 * client receives: without hop-by-hop headers and edge-auth's cookies, with what edge-auth adds
 * to every proxied answer (app.ts skips its own header writes for these responses): the request
 * id (always edge-auth's, never the upstream's) and HSTS and nosniff where the upstream set none
 * (PROXY_SECURITY_HEADERS: the upstream keeps its own content policy). In place, as above.
 */
export function shapeClientHeaders(headers: Headers, requestId: string): void {
  const named = connectionNamed(headers);
  const drop: string[] = [];
  const present: string[] = [];
  let cookies = false;
  for (const name of headers.keys()) {
    if (name === 'set-cookie') cookies = true;
    else if (HOP_BY_HOP.has(name) || name === 'clear-site-data' || named.includes(name)) drop.push(name);
    else if (PROXY_HEADERS.has(name)) present.push(name);
  }
  for (const name of drop) headers.delete(name);
  if (cookies) {
    // One entry per cookie (never a joined list), edge-auth's own taken out.
    const all = headers.getSetCookie();
    const kept = all.filter((cookie) => !isForbiddenSetCookie(cookie));
    if (kept.length !== all.length) {
      headers.delete('set-cookie');
      for (const cookie of kept) headers.append('set-cookie', cookie);
    }
  }
  for (const [name, value] of PROXY_HEADERS) if (!present.includes(name)) headers.set(name, value);
  headers.set('x-request-id', requestId);
}

/** PROXY_SECURITY_HEADERS by name as the Headers iterator yields it (lower case). */
const PROXY_HEADERS = new Map(PROXY_SECURITY_HEADERS.map(([name, value]) => [name.toLowerCase(), value]));
