// What crosses the gateway in each direction. Inbound, the upstream must learn the caller only from
// headers edge-auth wrote: every client-sent identity header is dropped, and so are edge-auth's own
// credentials (an upstream holding them could act as the user against edge-auth). Outbound, the
// upstream cannot set or clear edge-auth's cookies, so it can neither log a user out nor plant a
// session. Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection and never cross.
import type { AuthContext } from '../app-env';
import { ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE } from '../cookies';
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
/** Forwarding headers a client could forge; the gateway writes its own. */
const FORWARDING = ['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip', 'x-request-id'];
const OWN_COOKIES = new Set([ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE]);

/** edge-auth's cookies, whatever prefix a client put on them. */
function isOwnCookie(name: string): boolean {
  return OWN_COOKIES.has(name.replace(/^__(Host|Secure)-/, ''));
}

function dropHopByHop(headers: Headers): void {
  // Headers named in Connection are hop-by-hop too.
  const named = headers.get('connection')?.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean) ?? [];
  for (const name of [...HOP_BY_HOP, ...named]) headers.delete(name);
}

/** The Cookie header without edge-auth's cookies; null when nothing is left. */
export function withoutOwnCookies(cookie: string): string | null {
  const kept = cookie.split(';').map((part) => part.trim()).filter((part) => part !== '' && !isOwnCookie(part.split('=', 1)[0]!.trim()));
  return kept.length > 0 ? kept.join('; ') : null;
}

export interface ForwardContext {
  auth: AuthContext | undefined;
  /** The Authorization header carried an edge-auth bearer token (removed). */
  bearer: boolean;
  requestId: string;
  clientIp: string | null;
  url: URL;
  assertion: string;
  websocket: boolean;
}

/** The headers the upstream receives. */
export function upstreamRequestHeaders(incoming: Headers, ctx: ForwardContext): Headers {
  const headers = new Headers(incoming);
  dropHopByHop(headers);
  for (const name of [...headers.keys()]) {
    if (name.startsWith(IDENTITY_PREFIX) || FORWARDING.includes(name)) headers.delete(name);
  }
  if (ctx.bearer || /^\s*bearer\b/i.test(headers.get('authorization') ?? '')) headers.delete('authorization');
  const cookie = headers.get('cookie');
  if (cookie !== null) {
    const kept = withoutOwnCookies(cookie);
    if (kept === null) headers.delete('cookie');
    else headers.set('cookie', kept);
  }
  if (ctx.websocket) {
    // The one hop-by-hop exchange that must reach the upstream: fetch() turns it into a WebSocket.
    headers.set('Upgrade', 'websocket');
    headers.set('Connection', 'Upgrade');
  }

  const subject: SubjectType = ctx.auth ? 'user' : 'anonymous';
  headers.set(IDENTITY_HEADERS.subjectType, subject);
  if (ctx.auth) {
    headers.set(IDENTITY_HEADERS.userId, ctx.auth.userId);
    headers.set(IDENTITY_HEADERS.username, ctx.auth.username); // ASCII by the username alphabet
    headers.set(IDENTITY_HEADERS.roles, ctx.auth.roles.join(','));
    headers.set(IDENTITY_HEADERS.sessionId, ctx.auth.sessionId);
  }
  headers.set(IDENTITY_HEADERS.assertion, ctx.assertion);
  headers.set('X-Request-Id', ctx.requestId);
  if (ctx.clientIp) headers.set('X-Forwarded-For', ctx.clientIp);
  headers.set('X-Forwarded-Proto', ctx.url.protocol.slice(0, -1));
  headers.set('X-Forwarded-Host', ctx.url.host);
  return headers;
}

/** The headers the client receives: the upstream's, minus hop-by-hop ones and edge-auth's cookies. */
export function clientResponseHeaders(upstream: Headers): Headers {
  const headers = new Headers();
  for (const [name, value] of upstream) {
    if (name === 'set-cookie') continue; // one Headers entry per cookie below, never a joined list
    headers.append(name, value);
  }
  for (const cookie of upstream.getSetCookie()) {
    const name = cookie.split('=', 1)[0]!.trim();
    if (!isOwnCookie(name)) headers.append('Set-Cookie', cookie);
  }
  dropHopByHop(headers);
  return headers;
}
