// What crosses the gateway in each direction. Inbound, the upstream must learn the caller only from
// headers edge-auth wrote: every client-sent identity header is dropped, and so are edge-auth's own
// credentials (an upstream holding them could act as the user against edge-auth). Outbound, the
// upstream cannot set or clear edge-auth's cookies, so it can neither log a user out nor plant a
// session. Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection and never cross.
import type { AuthContext } from '../app-env';
import { ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE } from '../cookies';
import { SECURITY_HEADERS } from '../middleware/api-headers';
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

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'];
/** Forwarding headers a client could forge; the gateway writes its own. X-API-Key is an edge-auth credential. */
const FORWARDING = ['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip', 'x-request-id', 'x-api-key'];
const OWN_COOKIES = new Set([ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE]);

/** edge-auth's cookies, whatever prefix a client put on them. */
function isOwnCookie(name: string): boolean {
  return OWN_COOKIES.has(name.replace(/^__(Host|Secure)-/, ''));
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

/** Names a client may not pass on: hop-by-hop, forgeable forwarding headers, credentials checked below. */
function droppedInbound(name: string, connectionNamed: readonly string[]): boolean {
  return name.startsWith(IDENTITY_PREFIX) || HOP_BY_HOP.includes(name) || FORWARDING.includes(name) || name === 'host' || connectionNamed.includes(name);
}

/**
 * The headers the upstream receives. One pass over the client's headers into a list and one
 * Headers construction: measured cheaper in workerd than copying and deleting (bench/).
 */
export function upstreamRequestHeaders(incoming: Headers, ctx: ForwardContext): Headers {
  const connectionNamed = incoming.get('connection')?.toLowerCase().split(',').map((s) => s.trim()) ?? [];
  const out: [string, string][] = [];
  for (const [name, value] of incoming) {
    if (droppedInbound(name, connectionNamed)) continue;
    if (name === 'authorization' && (ctx.bearer || /^\s*bearer\b/i.test(value))) continue;
    if (name === 'cookie') {
      const kept = withoutOwnCookies(value);
      if (kept !== null) out.push(['cookie', kept]);
      continue;
    }
    out.push([name, value]);
  }
  if (ctx.websocket) {
    // The one hop-by-hop exchange that must reach the upstream: fetch() turns it into a WebSocket.
    out.push(['upgrade', 'websocket'], ['connection', 'Upgrade']);
  }

  const subject: SubjectType = ctx.auth ? ctx.auth.subject : 'anonymous';
  out.push([IDENTITY_HEADERS.subjectType, subject]);
  if (ctx.auth) {
    out.push(
      [IDENTITY_HEADERS.userId, ctx.auth.userId],
      [IDENTITY_HEADERS.username, ctx.auth.username], // ASCII by the username alphabet
      [IDENTITY_HEADERS.roles, ctx.auth.roles.join(',')],
      [IDENTITY_HEADERS.sessionId, ctx.auth.sessionId],
    );
  }
  out.push([IDENTITY_HEADERS.assertion, ctx.assertion], ['x-request-id', ctx.requestId]);
  if (ctx.clientIp) out.push(['x-forwarded-for', ctx.clientIp]);
  out.push(['x-forwarded-proto', ctx.url.protocol.slice(0, -1)], ['x-forwarded-host', ctx.url.host]);
  return new Headers(out);
}

/**
 * The headers the client receives: the upstream's, minus hop-by-hop ones and edge-auth's cookies,
 * plus what edge-auth adds to every answer, built in the same pass (one Headers construction, no
 * per-header calls afterwards: app.ts skips its own header writes for these responses): the
 * request id (always edge-auth's, never the upstream's) and each security header the upstream did
 * not set itself (a proxied response keeps the upstream's own policy).
 */
export function clientResponseHeaders(upstream: Headers, requestId: string): Headers {
  const connection = upstream.get('connection');
  const connectionNamed = connection === null ? [] : connection.toLowerCase().split(',').map((s) => s.trim());
  const out: [string, string][] = [];
  let cookies = false;
  const present = new Set<string>();
  for (const [name, value] of upstream) {
    // Set-Cookie below, one entry per cookie (never a joined list).
    if (name === 'set-cookie') cookies = true;
    else if (name === 'x-request-id' || HOP_BY_HOP.includes(name) || connectionNamed.includes(name)) continue;
    else {
      out.push([name, value]);
      present.add(name);
    }
  }
  if (cookies) {
    for (const cookie of upstream.getSetCookie()) {
      if (!isOwnCookie(cookie.split('=', 1)[0]!.trim())) out.push(['set-cookie', cookie]);
    }
  }
  for (const header of SECURITY_HEADERS_LOWER) if (!present.has(header[0])) out.push(header);
  out.push(['x-request-id', requestId]);
  return new Headers(out);
}

/** Header names as the Headers iterator yields them (lower case). */
const SECURITY_HEADERS_LOWER: readonly [string, string][] = SECURITY_HEADERS.map(([name, value]) => [name.toLowerCase(), value]);
