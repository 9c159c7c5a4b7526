// The gateway middleware: requests on a GATEWAY_ROUTES path are authenticated here exactly as
// requireAuth authenticates edge-auth's own routes (same token extraction, same checks, same CSRF
// rule, same refusals), then forwarded with the identity edge-auth vouches for (headers.ts,
// assertion.ts) and streamed back. Paths no route covers go on to edge-auth's own routes.
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv, AuthContext } from '../app-env';
import { AppError } from '../errors';
import { parseClientIp } from '../lib/client-ip';
import { log, type LogFields } from '../lib/log';
import { platformFaultOf } from '../lib/platform-fault';
import { csrfCheck, originAllowed } from '../middleware/csrf';
import { extractAccessToken, noTokenError, subjectRefusal, verifyPresented } from '../middleware/require-auth';
import { keyRing } from '../tokens/keys';
import { enforceQuota } from '../usage/quotas';
import { identityAssertion } from './assertion';
import { clientResponse, requestBody, sendUpstream, UpstreamFailure, upstreamRequest, type UpstreamFetcher } from './forward';
import { shapeClientHeaders, shapeUpstreamHeaders } from './headers';
import { getRouteTable, matchRoute, under, type GatewayRoute } from './route-table';

/** The caller of a proxied request: undefined when anonymous (auth none, or optional without a token). */
async function callerOf(c: Context<AppEnv>, route: GatewayRoute): Promise<{ auth: AuthContext | undefined; bearer: boolean }> {
  if (route.auth === 'none') return { auth: undefined, bearer: false };
  // Before authentication, as on edge-auth's own routes: a forged cross-site request learns nothing.
  csrfCheck(c);
  let presented: ReturnType<typeof extractAccessToken>;
  try {
    presented = extractAccessToken(c);
  } catch (err) {
    // Another Authorization scheme (Basic, ...) is no edge-auth token: anonymous where that is allowed.
    if (route.auth === 'optional' && err instanceof AppError && err.code === 'unauthorized') return { auth: undefined, bearer: false };
    throw err;
  }
  if (!presented) {
    if (route.auth === 'required') throw noTokenError(c);
    return { auth: undefined, bearer: false };
  }
  // optional: a token that is presented must be valid (never silently downgraded to anonymous).
  const auth = await verifyPresented(c, presented, { roles: route.roles, fresh: route.fresh });
  if (!route.subjects.includes(auth.subject)) throw new AppError('forbidden', subjectRefusal(route.subjects));
  return { auth, bearer: presented.via !== 'cookie' };
}

/** The path the upstream sees: the prefix stripped, under the upstream's base path. */
function upstreamPath(route: GatewayRoute, path: string): string {
  const rest = route.stripPrefix && under(path, route.stripPrefix) ? path.slice(route.stripPrefix.length) : path;
  return rest.startsWith('/') ? rest : `/${rest}`;
}

function fetcherFor(c: Context<AppEnv>, route: GatewayRoute, url: URL, path: string): { fetcher: UpstreamFetcher; target: string } {
  if (route.upstream.kind === 'service') {
    const binding = (c.env as unknown as Record<string, Fetcher>)[route.upstream.binding]!;
    // Another Worker sees the public host, as if it were called directly.
    return { fetcher: (req) => binding.fetch(req), target: `${url.protocol}//${url.host}${path}${url.search}` };
  }
  return { fetcher: (req) => fetch(req), target: `${route.upstream.base}${path}${url.search}` };
}

async function proxy(c: Context<AppEnv>, route: GatewayRoute, url: URL, event: LogFields): Promise<Response> {
  const config = c.get('config');
  const websocket = c.req.header('Upgrade')?.toLowerCase() === 'websocket';
  const { auth, bearer } = await callerOf(c, route);
  if (auth) {
    // The counted subject (src/usage/record.ts), and its quota before anything is sent upstream.
    c.set('auth', auth);
    await enforceQuota(c, auth);
  }
  event.userId = auth?.userId;
  event.subjectType = auth ? auth.subject : 'anonymous';
  // A WebSocket handshake is a GET, which the CSRF rule lets through; a cookie-authenticated one
  // from a foreign page would be cross-site WebSocket hijacking, so its Origin must be allowed.
  if (websocket && auth?.via === 'cookie' && !originAllowed(c)) {
    throw new AppError('csrf_failed', 'Cross-site request refused: origin not allowed.');
  }

  const { body, meter } = requestBody(c.req.raw, route);
  const assertion = await identityAssertion(keyRing(c.env.DB, config), config, auth, route.upstream.id, c.get('now')());
  const { fetcher, target } = fetcherFor(c, route, url, upstreamPath(route, url.pathname));
  const call = upstreamRequest(target, c.req.method, c.req.raw.headers, body);
  shapeUpstreamHeaders(call.request.headers, {
    auth,
    bearer,
    requestId: c.get('requestId'),
    clientIp: parseClientIp(c.req.header('CF-Connecting-IP')),
    url,
    assertion,
    websocket,
  });
  const upstream = await sendUpstream(fetcher, call, route, meter);

  if (meter.done) event.bytesIn = meter.bytes;
  c.set('gatewayBytesIn', meter); // read when the response ends: the body may still be streaming up
  const length = upstream.headers.get('content-length');
  if (length !== null && /^\d+$/.test(length)) event.bytesOut = Number(length);
  const res = clientResponse(upstream);
  shapeClientHeaders(res.headers, c.get('requestId'));
  withEdgeHeaders.add(res);
  return res;
}

/** An empty segment (`//`) or a dot segment with parameters (`..;`, `.;`). */
const AMBIGUOUS_SEGMENT = /\/\/|(?:^|\/)\.{1,2};/;
const AMBIGUOUS_PATH = 'The path is ambiguous (an empty segment, a dot segment, a backslash or a malformed escape): send the normalised path.';

/**
 * Refuses a gateway path that an upstream could resolve to another route's path than the one
 * whose checks (auth, roles, fresh) were applied:
 * - empty segments and dot segments with parameters, which the URL parser keeps but servers fold
 *   (nginx merges `//`, Tomcat reads `..;` as `..`): `/app-api//admin/users` would match
 *   `/app-api/*` and be served as `/admin/users`;
 * - a path whose normalised form (what is forwarded: `..`, `%2e%2e`, `.%2e` resolved, `\` read as
 *   `/`) matches another route than the router's path did (dot segments as sent). workerd
 *   normalises the URL before the Worker (measured under `wrangler dev`); this holds where a
 *   runtime or zone does not. A malformed escape there is refused rather than guessed at.
 */
export function checkForwardedPath(table: readonly GatewayRoute[], route: GatewayRoute, routerPath: string, forwarded: string, method: string): void {
  if (AMBIGUOUS_SEGMENT.test(routerPath)) throw new AppError('invalid_request', AMBIGUOUS_PATH);
  if (forwarded === routerPath) return;
  let decoded: string;
  try {
    decoded = decodeURI(forwarded);
  } catch {
    throw new AppError('invalid_request', AMBIGUOUS_PATH);
  }
  const again = matchRoute(table, decoded, method);
  if (!again || !('route' in again) || again.route !== route) throw new AppError('invalid_request', AMBIGUOUS_PATH);
}

/** Proxied responses whose headers already carry the request id and security headers (app.ts). */
const withEdgeHeaders = new WeakSet<Response>();

/** Whether `res` is a proxied response that needs no further header writes. */
export function hasEdgeHeaders(res: Response): boolean {
  return withEdgeHeaders.has(res);
}

/**
 * Proxies requests on the configured GATEWAY_ROUTES to their upstreams; other paths pass through.
 * The table is parsed with the configuration (src/app.ts), so a bad one never reaches here.
 *
 * @example
 * app.use('*', gateway()); // after the request id and configuration middleware
 */
export function gateway(): MiddlewareHandler<AppEnv> {
  return async function gatewayMiddleware(c, next) {
    const table = getRouteTable(c.env, c.get('config'));
    if (table.length === 0) return next();
    // Matched on the router's path: requests for edge-auth's own routes build no URL here.
    const match = matchRoute(table, c.req.path, c.req.method);
    if (!match) return next();
    const started = Date.now();
    if ('methodNotAllowed' in match) {
      // A refusal on a gateway path is a gateway event too (no route: none allowed this method).
      log('info', 'gateway.request', { requestId: c.get('requestId'), method: c.req.method, status: 405, error: 'method_not_allowed', durationMs: 0 });
      throw new AppError('method_not_allowed', undefined, { headers: { Allow: match.methodNotAllowed.join(', ') } });
    }
    const { route } = match;
    const url = new URL(c.req.url);
    c.set('gatewayRoute', route.pattern);
    // One event per proxied request, refusals included: usage metering builds on it.
    const event: LogFields = { requestId: c.get('requestId'), route: route.pattern, method: c.req.method };
    let status = 500;
    try {
      checkForwardedPath(table, route, c.req.path, url.pathname, c.req.method);
      const res = await proxy(c, route, url, event);
      status = res.status;
      return res;
    } catch (err) {
      if (err instanceof AppError) {
        status = err.status;
        event.error = err.code;
        if (err.cause instanceof UpstreamFailure) event.failure = err.cause.message;
      } else if (platformFaultOf(err)) {
        // edge-auth's own D1/KV failing while authenticating: app.ts answers 503 (docs/resilience.md).
        status = 503;
        event.error = 'temporarily_unavailable';
      }
      throw err;
    } finally {
      log(status >= 500 ? 'warn' : 'info', 'gateway.request', { ...event, status, durationMs: Date.now() - started });
    }
  };
}
