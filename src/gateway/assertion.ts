// The identity assertion: a short JWT, signed by the key ring, that the gateway puts on every
// proxied request (header ASSERTION_HEADER), modelled on Cloudflare Access's Cf-Access-Jwt-Assertion.
// An origin that can also be reached directly checks it against edge-auth's JWKS and trusts only
// what came through the gateway. Its `typ` differs from the access token's `at+jwt`, and
// verifyAccessToken pins that `typ`, so an assertion leaked by an upstream is never accepted by
// edge-auth as an access token; its `aud` is the route's upstream, so one upstream cannot replay
// it to another that checks `aud`.
//
// Signing costs about as much as verifying; the assertion for one (session, token, upstream,
// identity) is reused while it has more than REUSE_MARGIN_SECONDS to live. Reuse is safe because
// the request itself was authenticated (revocation included) before the cached value is used.
import { SignJWT } from 'jose';
import type { AuthContext } from '../app-env';
import type { Config } from '../config';
import { withLowS } from '../crypto/ecdsa';
import type { SubjectType as CredentialSubject } from '../services/authenticate';
import type { KeyRing } from '../tokens/keys';

export const ASSERTION_TYPE = 'edge-auth-assertion+jwt';
export const ASSERTION_HEADER = 'X-Edge-Auth-Assertion';
/** At most 60 s: long enough to reuse across a burst of requests, short enough to be useless when leaked. */
export const ASSERTION_TTL_SECONDS = 60;
/** Re-signed once less than this is left, so an assertion never expires while its request is in flight. */
export const REUSE_MARGIN_SECONDS = 15;
/** The shortest life an assertion is given (for tokens at the very end of theirs). */
export const MIN_LIFETIME_SECONDS = 5;
/** Bounds the per-isolate cache; when full it is emptied (a cold cache only costs signatures). */
export const MAX_CACHED = 2_048;

/** The subject model (user session, API key, OAuth client), or nobody. */
export type SubjectType = CredentialSubject | 'anonymous';

export interface AssertionClaims {
  iss: string;
  aud: string;
  iat: number;
  exp: number;
  jti: string;
  subject_type: SubjectType;
  sub?: string;
  sid?: string;
  username?: string;
  roles?: string[];
}

interface Cached {
  token: string;
  exp: number;
}

const cache = new Map<string, Cached>();

function cacheKey(auth: AuthContext | undefined, audience: string, kid: string): string {
  // The access token's jti and the (possibly freshly read) roles and username are part of the key:
  // a refresh or a role change never reuses an assertion made for the old identity.
  const who = auth ? `${auth.subject}\u0000${auth.sessionId}\u0000${auth.jti}\u0000${auth.username}\u0000${auth.roles.join(',')}` : 'anonymous';
  return `${kid}\u0000${audience}\u0000${who}`;
}

/** The assertion for this caller and upstream (`audience`), signed or reused. */
export async function identityAssertion(ring: KeyRing, config: Config, auth: AuthContext | undefined, audience: string, now: number): Promise<string> {
  const key = await ring.signingKey(now);
  const id = cacheKey(auth, audience, key.kid);
  const hit = cache.get(id);
  if (hit && hit.exp - now > REUSE_MARGIN_SECONDS) return hit.token;

  // Never outlives the access token it stands for, except that a token accepted within the clock
  // leeway after its expiry still gets an assertion the origin can accept (MIN_LIFETIME_SECONDS).
  const exp = auth ? Math.min(now + ASSERTION_TTL_SECONDS, Math.max(auth.exp, now + MIN_LIFETIME_SECONDS)) : now + ASSERTION_TTL_SECONDS;
  const claims: Omit<AssertionClaims, 'iss' | 'aud' | 'iat' | 'exp' | 'jti' | 'sub'> = auth
    ? { subject_type: auth.subject, sid: auth.sessionId, username: auth.username, roles: auth.roles }
    : { subject_type: 'anonymous' };
  const jwt = new SignJWT({ ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ASSERTION_TYPE })
    .setIssuer(config.issuer)
    .setAudience(audience)
    .setIssuedAt(now)
    .setExpirationTime(exp)
    .setJti(crypto.randomUUID());
  if (auth) jwt.setSubject(auth.userId);
  const signed = await jwt.sign(key.key);
  // Like access tokens (crypto/ecdsa.ts): one valid encoding, so strict verifiers that refuse the
  // high-S twin accept every assertion.
  const token = key.alg === 'ES256' ? withLowS(signed) : signed;

  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(id, { token, exp });
  return token;
}
