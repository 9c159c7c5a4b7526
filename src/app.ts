// App assembly: request id, configuration, security headers, body limits, CORS, CSRF, routes and
// the single error mapping. `createApp` takes the clock so tests control time instead of sleeping.
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import type { AppEnv } from './app-env';
import { ConfigError, getConfig } from './config';
import { AppError } from './errors';
import { MAX_BODY_BYTES } from './lib/body';
import { errorResponse } from './lib/error-response';
import { describeError, log } from './lib/log';
import { csrfProtection } from './middleware/csrf';
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

export interface AppDeps {
  /** Current time in milliseconds; Date.now in production. */
  clock?: () => number;
}

export function createApp(deps: AppDeps = {}) {
  const clock = deps.clock ?? Date.now;
  const nowSeconds = () => Math.floor(clock() / 1000);
  const app = new Hono<AppEnv>();

  app.use('*', async (c, next) => {
    const requestId = crypto.randomUUID();
    c.set('requestId', requestId);
    c.header('X-Request-Id', requestId); // also on errors raised below (a misconfigured 500 included)
    c.set('now', nowSeconds);
    await next();
    c.header('X-Request-Id', requestId);
  });

  app.use(
    '*',
    secureHeaders({
      xFrameOptions: 'DENY',
      referrerPolicy: 'no-referrer',
      strictTransportSecurity: 'max-age=31536000; includeSubDomains',
      crossOriginResourcePolicy: false,
      contentSecurityPolicy: {
        defaultSrc: ["'none'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
      },
    }),
  );

  // After the headers middleware, so even a misconfiguration error carries them.
  app.use('*', async (c, next) => {
    c.set('config', getConfig(c.env));
    await next();
  });

  // Token and user data must never be stored by a cache (RFC 6749 section 5.1).
  for (const path of ['/auth/*', '/api/*', '/admin/*', '/oauth/*']) {
    app.use(path, async (c, next) => {
      await next();
      c.header('Cache-Control', 'no-store');
      c.header('Pragma', 'no-cache');
    });
    app.use(
      path,
      bodyLimit({
        maxSize: MAX_BODY_BYTES,
        onError: () => {
          throw new AppError('payload_too_large');
        },
      }),
    );
  }
  // Browser-facing paths only: /oauth/* is for servers (no CORS) and takes no cookies (no CSRF).
  for (const path of ['/auth/*', '/api/*', '/admin/*']) {
    app.use(
      path,
      cors({
        // Only listed origins, never a reflection of an arbitrary one (credentials are allowed).
        origin: (origin, c) => (c.get('config').allowedOrigins.includes(origin) ? origin : null),
        credentials: true,
        allowHeaders: ['Content-Type', 'Authorization', 'X-CSRF-Token', 'X-API-Key'],
        allowMethods: ['GET', 'POST', 'DELETE', 'PATCH', 'OPTIONS'],
        maxAge: 600,
      }),
    );
    app.use(path, csrfProtection());
  }

  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.route('/auth/api-keys', apiKeyRoutes);
  app.route('/auth/mfa', mfaRoutes);
  app.route('/auth/passkeys', passkeyRoutes);
  app.route('/auth/passkey', passkeySignInRoutes);
  app.route('/auth', authRoutes);
  app.route('/api', apiRoutes);
  app.route('/admin/keys', adminKeyRoutes);
  app.route('/admin/clients', adminClientRoutes);
  app.route('/admin', adminApiKeyRoutes);
  app.route('/admin', adminMfaRoutes);
  app.route('/admin', adminRoutes);
  app.route('/.well-known', wellKnownRoutes);
  app.route('/oauth', oauthRoutes);

  app.notFound((c) => errorResponse(c, new AppError('not_found')));

  app.onError((err, c) => {
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
    log('error', 'request.error', { requestId: c.get('requestId'), code: 'internal_error', cause: describeError(err) });
    return errorResponse(c, new AppError('internal_error'));
  });

  return app;
}
