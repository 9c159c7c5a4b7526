// Public metadata for verifiers: JWKS (RFC 7517) and discovery (RFC 8414 / OpenID Connect
// Discovery 1.0). Open CORS: anyone may verify our tokens; nothing here is secret or per-user.
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import type { AppEnv } from '../app-env';
import type { Config } from '../config';
import { keyRing, rotationOverlap } from '../tokens/keys';

/** Absolute URL of a path under the issuer (the issuer may itself have a path). */
export function issuerUrl(config: Config, path: string): string {
  const base = config.issuer.endsWith('/') ? config.issuer : `${config.issuer}/`;
  return new URL(path.replace(/^\//, ''), base).toString();
}

/**
 * Only members whose registered meaning we honour. The /auth endpoints speak JSON, not the form
 * encoding of RFC 6749/7009/7591, so they are published under their own (unregistered) names
 * rather than as token_endpoint, revocation_endpoint or registration_endpoint, which OAuth
 * client libraries would call with the wrong protocol.
 */
export function discoveryDocument(config: Config) {
  return {
    issuer: config.issuer,
    jwks_uri: issuerUrl(config, '/.well-known/jwks.json'),
    // Required by both specs; there is no authorization endpoint, so no response type applies.
    response_types_supported: [] as string[],
    subject_types_supported: ['public'],
    // We issue no ID tokens; OIDC Discovery requires the member, and it names the JWS algorithm.
    id_token_signing_alg_values_supported: [config.alg],
    access_token_signing_alg_values_supported: [config.alg],
    claims_supported: ['iss', 'aud', 'sub', 'iat', 'exp', 'jti', 'sid', 'roles', 'username'],
    login_endpoint: issuerUrl(config, '/auth/login'),
    refresh_endpoint: issuerUrl(config, '/auth/refresh'),
    logout_endpoint: issuerUrl(config, '/auth/logout'),
    user_registration_endpoint: issuerUrl(config, '/auth/register'),
    me_endpoint: issuerUrl(config, '/auth/me'),
  };
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
  .use('*', cors({ origin: '*', allowMethods: ['GET', 'HEAD', 'OPTIONS'], credentials: false, maxAge: 86_400 }))
  .get('/jwks.json', async (c) => {
    const config = c.get('config');
    const keys = await keyRing(c.env.DB, config).publicJwks(c.get('now')());
    c.header('Cache-Control', `public, max-age=${jwksMaxAge(config)}`);
    return c.json({ keys });
  })
  .get('/openid-configuration', (c) => {
    c.header('Cache-Control', `public, max-age=${DISCOVERY_MAX_AGE}`);
    return c.json(discoveryDocument(c.get('config')));
  })
  .get('/oauth-authorization-server', (c) => {
    c.header('Cache-Control', `public, max-age=${DISCOVERY_MAX_AGE}`);
    return c.json(discoveryDocument(c.get('config')));
  });
