// Public metadata for verifiers: JWKS (RFC 7517) and authorization-server metadata (RFC 8414; no
// OpenID document, see below). Open CORS: anyone may verify our tokens; nothing here is secret.
import { Hono } from '../lib/hono';
import { publicCors } from '../middleware/public-cors';
import type { AppEnv } from '../app-env';
import type { Config } from '../config';
import { AppError } from '../errors';
import { keyRing, rotationOverlap } from '../tokens/keys';

/** Absolute URL of a path under the issuer (the issuer may itself have a path). */
export function issuerUrl(config: Config, path: string): string {
  const base = config.issuer.endsWith('/') ? config.issuer : `${config.issuer}/`;
  return new URL(path.replace(/^\//, ''), base).toString();
}

/**
 * Authorization-server metadata (RFC 8414): only what is true. There is no authorization endpoint,
 * so no response type is offered: the list is published empty, because RFC 8414 gives absent
 * members defaults ("code" flows, "authorization_code" and "implicit" grants) that would be false.
 * The /oauth endpoints speak RFC 6749/7662/7009 and are published under their registered names;
 * the JSON /auth endpoints under their own unregistered names, which no OAuth library calls. No
 * OpenID members: edge-auth issues no ID tokens (see openidConfigurationRefusal).
 */
export function discoveryDocument(config: Config) {
  const clientAuth = ['client_secret_basic', 'client_secret_post'];
  return {
    issuer: config.issuer,
    jwks_uri: issuerUrl(config, '/.well-known/jwks.json'),
    token_endpoint: issuerUrl(config, '/oauth/token'),
    introspection_endpoint: issuerUrl(config, '/oauth/introspect'),
    revocation_endpoint: issuerUrl(config, '/oauth/revoke'),
    response_types_supported: [] as string[],
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: clientAuth,
    introspection_endpoint_auth_methods_supported: clientAuth,
    revocation_endpoint_auth_methods_supported: clientAuth,
    access_token_signing_alg_values_supported: [config.alg],
    login_endpoint: issuerUrl(config, '/auth/login'),
    refresh_endpoint: issuerUrl(config, '/auth/refresh'),
    logout_endpoint: issuerUrl(config, '/auth/logout'),
    user_registration_endpoint: issuerUrl(config, '/auth/register'),
    me_endpoint: issuerUrl(config, '/auth/me'),
  };
}

/**
 * OpenID Connect Discovery requires an authorization endpoint and ID-token algorithms; edge-auth
 * has neither, so it publishes no OpenID document rather than one that does not conform. Verifiers
 * that discover keys find `jwks_uri` in the RFC 8414 document.
 */
function openidConfigurationRefusal(): AppError {
  return new AppError('not_found', 'edge-auth is not an OpenID Provider: its metadata is at /.well-known/oauth-authorization-server (RFC 8414).');
}

/** Upper bound of the JWKS max-age: a new key pre-published as `next` is seen within it. */
export const JWKS_MAX_AGE_CAP = 300;

/**
 * JWKS cache lifetime: never longer than a retired key's overlap, so a cached copy is never older
 * than the period in which a retired key still verifies, and at most JWKS_MAX_AGE_CAP. Because the
 * next key is published one rotation ahead, a verifier honouring this max-age already holds the
 * key a rotation activates, as long as rotations are more than max-age apart.
 */
export function jwksMaxAge(config: Config): number {
  return Math.min(JWKS_MAX_AGE_CAP, rotationOverlap(config));
}

const DISCOVERY_MAX_AGE = 3600; // changes only with a deploy

export const wellKnownRoutes = new Hono<AppEnv>()
  .use('*', publicCors)
  .get('/jwks.json', async (c) => {
    const config = c.get('config');
    const keys = await keyRing(c.env.DB, config).publicJwks(c.get('now')());
    c.header('Cache-Control', `public, max-age=${jwksMaxAge(config)}`);
    return c.json({ keys });
  })
  .get('/openid-configuration', () => {
    throw openidConfigurationRefusal();
  })
  .get('/oauth-authorization-server', (c) => {
    c.header('Cache-Control', `public, max-age=${DISCOVERY_MAX_AGE}`);
    return c.json(discoveryDocument(c.get('config')));
  });
