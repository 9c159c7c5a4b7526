// App assembly: one middleware for what every request needs (request id, clock, configuration,
// security headers, and on the API prefixes CORS, CSRF, body limit and no-store; on /oauth the
// body limit and no-store), the routes and
// the single error mapping. `createApp` takes the clock so tests control time instead of sleeping.
//
// Few middlewares on purpose (issue 18): a bearer GET runs the app middleware (with the API stage
// inside it), requireAuth and its handler; every header value is computed once at module load.
import { Hono, type Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { AppEnv } from './app-env';
import { ConfigError, getConfig } from './config';
import { AppError } from './errors';
import { errorResponse } from './lib/error-response';
import { gateway } from './gateway/proxy';
import { getRouteTable } from './gateway/route-table';
import { describeError, log } from './lib/log';
import { platformFaultOf, temporarilyUnavailable } from './lib/platform-fault';
import { API_PATH, apiRequest, OAUTH_PATH, oauthRequest, setApiHeaders, setNoStore, setSecurityHeaders } from './middleware/api-headers';
import { adminMfaRoutes } from './mfa/admin-routes';
import { passkeyRoutes, passkeySignInRoutes } from './mfa/passkey-routes';
import { mfaRoutes } from './mfa/routes';
import { oauthRoutes } from './oauth/routes';
import { adminApiKeyRoutes } from './routes/admin-api-keys';
import { adminClientRoutes } from './routes/admin-clients';
import { adminKeyRoutes } from './routes/admin-keys';
import { adminRoutes } from './routes/admin';
import { apiRoutes } from './routes/api';
import { apiKeyRoutes } from './routes/api-keys';
import { authRoutes } from './routes/auth';
import { wellKnownRoutes } from './routes/well-known';
import { meterRequest } from './usage/record';
import { adminUsageRoutes, usageRoutes } from './usage/routes';

export interface AppDeps {
  /** Current time in milliseconds; Date.now in production. */
  clock?: () => number;
}

/** The one mapping from anything thrown to a response. */
function handleError(err: unknown, c: Context<AppEnv>): Response {
  if (err instanceof AppError) {
    if (err.status >= 500) log('error', 'request.error', { requestId: c.get('requestId'), code: err.code, cause: describeError(err.cause) });
    return errorResponse(c, err);
  }
  if (err instanceof ConfigError) {
    // On every request, not once: a deploy check or an alert must see it wherever it looks.
    log('error', 'config.misconfigured', { requestId: c.get('requestId'), code: 'misconfigured', setting: err.variable, reason: err.message });
    return errorResponse(c, new AppError('misconfigured', `The service is misconfigured: ${err.message}`));
  }
  if (err instanceof HTTPException) {
    // Raised by hono helpers (e.g. malformed input they parse); always a client error here.
    const code = err.status === 413 ? 'payload_too_large' : 'invalid_request';
    return errorResponse(c, new AppError(code));
  }
  const store = platformFaultOf(err);
  if (store) {
    // A store failing is not a bug in the request: the client may retry (docs/resilience.md).
    log('error', 'platform.unavailable', { requestId: c.get('requestId'), code: 'temporarily_unavailable', store, cause: describeError(err) });
    return errorResponse(c, temporarilyUnavailable());
  }
  log('error', 'request.error', { requestId: c.get('requestId'), code: 'internal_error', cause: describeError(err) });
  return errorResponse(c, new AppError('internal_error'));
}

export function createApp(deps: AppDeps = {}) {
  const clock = deps.clock ?? Date.now;
  const nowSeconds = () => Math.floor(clock() / 1000);
  const app = new Hono<AppEnv>();

  app.use('*', async function appStack(c, next) {
    const requestId = crypto.randomUUID();
    c.set('requestId', requestId);
    c.set('now', nowSeconds);
    const api = API_PATH.test(c.req.path);
    // /oauth/* is for servers: the body limit and no-store, but no CORS and no CSRF (no cookies).
    const oauth = !api && OAUTH_PATH.test(c.req.path);
    try {
      // Memoised per env object (config.ts): a WeakMap lookup after the first request.
      const config = getConfig(c.env);
      c.set('config', config);
      getRouteTable(c.env, config); // the gateway's table is configuration too: a bad one refuses every request
      await (api ? apiRequest(c, next) : oauth ? oauthRequest(c, next) : next());
    } catch (err) {
      // A misconfiguration or a refused CSRF check (errors of later handlers reach onError inside
      // next()), answered here so that it still gets every header below.
      c.res = handleError(err, c);
    }
    const headers = c.res.headers;
    if (api) setApiHeaders(c, headers);
    else if (oauth) setNoStore(headers);
    // A proxied response keeps the upstream's own policy; edge-auth's fills in what it left unset.
    setSecurityHeaders(headers, c.get('gatewayRoute') === undefined);
    headers.set('X-Request-Id', requestId);
    const quota = c.get('quotaHeaders');
    if (quota) for (const [name, value] of quota) headers.set(name, value);
    // Last: counts the request in memory; a due flush goes to waitUntil, never into this response.
    meterRequest(c);
  });

  // Before edge-auth's own routes, which its table can never shadow (src/gateway/route-table.ts).
  app.use('*', gateway());

  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.route('/auth/api-keys', apiKeyRoutes);
  app.route('/auth/mfa', mfaRoutes);
  app.route('/auth/passkeys', passkeyRoutes);
  app.route('/auth/passkey', passkeySignInRoutes);
  app.route('/auth/usage', usageRoutes);
  app.route('/auth', authRoutes);
  app.route('/api', apiRoutes);
  app.route('/admin/keys', adminKeyRoutes);
  app.route('/admin/clients', adminClientRoutes);
  app.route('/admin/usage', adminUsageRoutes);
  app.route('/admin', adminApiKeyRoutes);
  app.route('/admin', adminMfaRoutes);
  app.route('/admin', adminRoutes);
  app.route('/.well-known', wellKnownRoutes);
  app.route('/oauth', oauthRoutes);

  app.notFound((c) => errorResponse(c, new AppError('not_found')));
  app.onError(handleError);

  return app;
}
