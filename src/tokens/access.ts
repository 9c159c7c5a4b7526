// Access tokens: JWTs per RFC 9068 (`typ: at+jwt`), verified per RFC 8725: the algorithm is
// pinned to the configured one, the key comes only from our key ring by `kid` (never from the
// token: `jwk`, `jku`, `x5u`, `x5c` headers are refused), and `iss`, `aud`, `exp`, `nbf` are checked.
//
// The header is decoded once: jose parses it and hands it to our key resolver, which applies the
// header rules before any signature work (issue 18: it used to be decoded twice per request).
//
// A token this isolate has verified is not verified again while it lives (tokens/verified-cache.ts,
// docs/security.md "Verified-token cache"): a hit skips the signature and the claim parsing only;
// the clock checks below run on every hit, with the same leeway, and its key must still verify.
import { errors as joseErrors, jwtVerify, SignJWT, type JWSHeaderParameters } from 'jose';
import type { Config } from '../config';
import { AppError, invalidToken } from '../errors';
import { isHighS, signatureOf, withLowS } from '../crypto/ecdsa';
import { randomId } from '../crypto/random';
import { platformFaultOf } from '../lib/platform-fault';
import type { KeyRing } from './keys';

export const ACCESS_TOKEN_TYPE = 'at+jwt';
/** Longer tokens are refused before any parsing. Ours are well under 1 KiB. */
export const MAX_TOKEN_LENGTH = 4096;
const KEY_BEARING_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const;

export interface AccessClaims {
  sub: string;
  /** The username at signing time (OIDC's preferred_username), so routes need no D1 read. */
  username: string;
  sid: string;
  jti: string;
  roles: string[];
  iat: number;
  exp: number;
  /** Present on tokens issued to an OAuth client (client_credentials, RFC 9068 section 2.2). */
  client_id?: string;
  /** RFC 8176 authentication methods of the session's sign-in (user tokens). */
  amr?: string[];
  /** When the session's sign-in happened (OIDC auth_time; RFC 9470 max_age is measured from it). */
  auth_time?: number;
}

export interface IssuedAccessToken {
  token: string;
  jti: string;
  exp: number;
  expiresIn: number;
}

export async function signAccessToken(
  ring: KeyRing,
  config: Config,
  subject: { userId: string; username: string; sessionId: string; roles: string[]; clientId?: string; amr?: string[]; authTime?: number },
  now: number,
): Promise<IssuedAccessToken> {
  const key = await ring.signingKey(now);
  const jti = randomId();
  const exp = now + config.accessTtl;
  const claims: Record<string, unknown> = { sid: subject.sessionId, username: subject.username, roles: subject.roles };
  if (subject.clientId !== undefined) claims.client_id = subject.clientId;
  if (subject.amr !== undefined) claims.amr = subject.amr;
  if (subject.authTime !== undefined) claims.auth_time = subject.authTime;
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYPE })
    .setIssuer(config.issuer)
    .setAudience(config.audience[0]!)
    .setSubject(subject.userId)
    .setIssuedAt(now)
    .setExpirationTime(exp)
    .setJti(jti)
    .sign(key.key);
  // One valid encoding per token (crypto/ecdsa.ts): verification refuses the high-S twin.
  return { token: key.alg === 'ES256' ? withLowS(token) : token, jti, exp, expiresIn: config.accessTtl };
}

/**
 * Maps jose's failure codes to the API's messages in one place. Never includes the token. A store
 * failure while the key ring loads (D1 down past STALE_KEYS_SECONDS) is not the token's fault: it
 * stays a platform fault (503), as on a verified-cache hit, where the ring is asked the same.
 */
function explain(err: unknown): Error {
  if (err instanceof AppError || (err instanceof Error && platformFaultOf(err))) return err;
  if (err instanceof joseErrors.JWTExpired) return invalidToken('The access token has expired.', err);
  if (err instanceof joseErrors.JWTClaimValidationFailed) return invalidToken(`The access token's "${err.claim}" claim is not acceptable.`, err);
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return invalidToken('The access token signature is invalid.', err);
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return invalidToken('The access token algorithm is not allowed.', err);
  return invalidToken('The access token is malformed.', err);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

/**
 * The key for a token's protected header: our rules on top of jose's (which has already parsed the
 * header, checked `crit` and refused any algorithm but the configured one).
 */
async function keyFor(ring: KeyRing, config: Config, header: JWSHeaderParameters, token: string, now: number): Promise<CryptoKey> {
  if (KEY_BEARING_HEADERS.some((name) => name in header)) throw invalidToken('The access token carries its own key.');
  if (typeof header.kid !== 'string' || header.kid.length === 0 || header.kid.length > 128) {
    throw invalidToken('The access token has no key id.');
  }
  const key = await ring.verifyKey(header.kid, now);
  if (!key) throw invalidToken('The access token key is unknown.');
  if (config.alg === 'ES256') {
    const raw = signatureOf(token);
    if (!raw || isHighS(raw)) throw invalidToken('The access token signature is invalid.');
  }
  return key;
}

/**
 * The clock checks of a verification, as jose (exp, nbf with the leeway; its `now` is whole
 * seconds) and verifyAccessToken (iat) apply them: run again on every verified-cache hit.
 */
function inTime(claims: Readonly<AccessClaims>, nbf: number | undefined, config: Config, now: number): boolean {
  const joseNow = Math.floor(now);
  return claims.exp > joseNow - config.leeway && (nbf === undefined || nbf <= joseNow + config.leeway) &&
    claims.iat <= now + config.leeway && now - claims.iat <= config.accessTtl + config.leeway;
}

/** Verifies signature and claims; does not check revocation (see tokens/revocation.ts). */
export async function verifyAccessToken(ring: KeyRing, config: Config, token: string, now: number): Promise<AccessClaims> {
  if (token.length > MAX_TOKEN_LENGTH) throw invalidToken('The access token is malformed.');
  const cached = ring.verified.get(token);
  if (cached) {
    if (inTime(cached.claims, cached.nbf, config, now) && await ring.stillVerifies(cached.kid, now)) return cached.claims;
    // Out of time or key: forget it, and let the full verification below say why it is refused.
    ring.verified.delete(token);
  }
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) {
    throw invalidToken('The access token is malformed.');
  }
  let kid = '';
  try {
    const { payload } = await jwtVerify(token, (header) => {
      kid = header.kid as string; // keyFor refuses anything but a known string kid
      return keyFor(ring, config, header, token, now);
    }, {
      algorithms: [config.alg],
      issuer: config.issuer,
      audience: config.audience,
      typ: ACCESS_TOKEN_TYPE,
      clockTolerance: config.leeway,
      currentDate: new Date(now * 1000),
      requiredClaims: ['sub', 'iat', 'exp', 'jti', 'sid'],
    });
    const { sub, sid, jti, roles, iat, exp, username, client_id: clientId, amr, auth_time: authTime } = payload;
    if (typeof sub !== 'string' || typeof sid !== 'string' || typeof username !== 'string' || typeof jti !== 'string' || !isStringArray(roles) ||
        typeof iat !== 'number' || typeof exp !== 'number' || (clientId !== undefined && (typeof clientId !== 'string' || clientId !== sub))) {
      throw invalidToken('The access token claims are malformed.');
    }
    if (iat > now + config.leeway) throw invalidToken('The access token was issued in the future.');
    // No token we issue lives longer than the access lifetime: an older `iat` means a token from a
    // past configuration or a forged lifetime, refused whatever its `exp` says.
    if (now - iat > config.accessTtl + config.leeway) throw invalidToken('The access token is too old.');
    if ((amr !== undefined && !isStringArray(amr)) || (authTime !== undefined && typeof authTime !== 'number')) {
      throw invalidToken('The access token claims are malformed.');
    }
    const claims: AccessClaims = { sub, username, sid, jti, roles, iat, exp };
    if (clientId !== undefined) claims.client_id = clientId;
    if (amr !== undefined) claims.amr = amr;
    if (authTime !== undefined) claims.auth_time = authTime;
    Object.freeze(roles);
    if (amr !== undefined) Object.freeze(amr);
    ring.verified.set(token, { claims: Object.freeze(claims), kid, nbf: typeof payload.nbf === 'number' ? payload.nbf : undefined });
    return claims;
  } catch (err) {
    throw explain(err);
  }
}
