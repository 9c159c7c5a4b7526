// Access tokens made by the bench itself, for scenarios that need more distinct sessions than
// logins could create in reasonable time (each login is an argon2id hash).
import { createHmac, randomUUID } from 'node:crypto';

/** The first JWT header of a token, decoded (to find the kid the service signs with). */
export function jwtHeader(token) {
  return JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8'));
}

/**
 * `count` HS256 access tokens shaped exactly like the service's (same header, claims and key), each
 * with its own user, session and jti, signed here with the run's JWT_SECRET: the scale scenario
 * needs tens of thousands of distinct sessions, and 20,000 logins would take minutes of argon2id.
 * The protected route trusts claims (no D1 read), so these tokens exercise exactly its work: the
 * signature, the claims, and a revocation lookup that no cache has seen.
 */
export function mintHs256Tokens({ count, secret, like, extra = {} }) {
  const header = jwtHeader(like);
  const claims = JSON.parse(Buffer.from(like.split('.')[1], 'base64url').toString('utf8'));
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const head = encode({ alg: 'HS256', kid: header.kid, typ: header.typ });
  const now = Math.floor(Date.now() / 1000);
  return Array.from({ length: count }, (_, i) => {
    const body = encode({ ...claims, sub: randomUUID(), username: `bench-scale-${i}`, sid: randomUUID(), jti: randomUUID(), iat: now, exp: now + (claims.exp - claims.iat), ...extra });
    const signature = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
    return `${head}.${body}.${signature}`;
  });
}
