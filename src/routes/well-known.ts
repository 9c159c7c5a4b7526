// Public metadata for verifiers: JWKS (RFC 7517) and discovery (RFC 8414 / OIDC Discovery).
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import type { AppEnv } from '../app-env';
import type { Config } from '../config';
import { publicJwks } from '../tokens/keys';

/** Absolute URL of a path under the issuer (the issuer may itself have a path). */
export function issuerUrl(config: Config, path: string): string {
  const base = config.issuer.endsWith('/') ? config.issuer : `${config.issuer}/`;
  return new URL(path.replace(/^\//, ''), base).toString();
}

export function discoveryDocument(config: Config) {
  return {
    issuer: config.issuer,
    jwks_uri: issuerUrl(config, '/.well-known/jwks.json'),
    token_endpoint: issuerUrl(config, '/auth/login'),
    registration_endpoint: issuerUrl(config, '/auth/register'),
    userinfo_endpoint: issuerUrl(config, '/auth/me'),
    revocation_endpoint: issuerUrl(config, '/auth/logout'),
    refresh_endpoint: issuerUrl(config, '/auth/refresh'),
    response_types_supported: ['token'],
    grant_types_supported: ['password', 'refresh_token'],
    subject_types_supported: ['public'],
    token_endpoint_auth_methods_supported: ['none'],
    id_token_signing_alg_values_supported: [config.alg],
    access_token_signing_alg_values_supported: [config.alg],
    claims_supported: ['iss', 'aud', 'sub', 'iat', 'exp', 'jti', 'sid', 'roles', 'username'],
  };
}

// Verifiers cache the JWKS; a retired key stays published for the whole overlap, so a cache of
// at most this long never misses a key that still verifies, and a new key is seen within it.
const JWKS_MAX_AGE = 300;

export const wellKnownRoutes = new Hono<AppEnv>()
  .use('*', cors({ origin: '*', allowMethods: ['GET', 'HEAD', 'OPTIONS'], credentials: false }))
  .get('/jwks.json', async (c) => {
    const keys = await publicJwks(c.env.DB, c.get('config'), c.get('now')());
    c.header('Cache-Control', `public, max-age=${JWKS_MAX_AGE}`);
    return c.json({ keys });
  })
  .get('/openid-configuration', (c) => {
    c.header('Cache-Control', 'public, max-age=3600');
    return c.json(discoveryDocument(c.get('config')));
  })
  .get('/oauth-authorization-server', (c) => {
    c.header('Cache-Control', 'public, max-age=3600');
    return c.json(discoveryDocument(c.get('config')));
  });
