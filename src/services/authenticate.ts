// authenticate: the one answer to "is this access token good right now?", shared by requireAuth
// (HTTP) and the AuthService RPC entrypoint (other Workers), so both apply exactly the same
// checks: RFC 8725 verification against the key ring (tokens/access.ts), then the revocation list,
// then (with `fresh`) the stored user.
import type { Config } from '../config';
import { findUserWithSession, parseRoles } from '../db/users';
import { insufficientScope, invalidToken } from '../errors';
import { verifyAccessToken, type AccessClaims } from '../tokens/access';
import { keyRing } from '../tokens/keys';
import { isTokenRevoked } from '../tokens/revocation';

export interface AuthStores {
  DB: D1Database;
  KV: KVNamespace;
}

export interface AuthenticateOptions {
  /** Admit tokens holding any of these roles (none: any valid token). */
  roles?: readonly string[];
  /**
   * Also read the user and the token's session from D1 (one read, concurrent with the KV read):
   * deleted or disabled users and sessions that D1 says have ended are refused at once, and the
   * stored roles and username replace the token's. Without the session, a token of an ended
   * session would carry roles granted after it ended wherever KV has not caught up (docs/security.md,
   * audit finding 1).
   */
  fresh?: boolean;
}

/** The verified claims of `token`; throws AppError invalid_token / insufficient_scope otherwise. */
export async function authenticate(
  stores: AuthStores,
  config: Config,
  token: string,
  now: number,
  options: AuthenticateOptions = {},
): Promise<AccessClaims> {
  const verified = await verifyAccessToken(keyRing(stores.DB, config), config, token, now);
  // One D1 read at most, shared by the fresh check and the fallback for a failed KV read.
  let stored: ReturnType<typeof findUserWithSession> | undefined;
  const readStored = () => (stored ??= findUserWithSession(stores.DB, verified.sub, verified.sid));
  // Every revocation ends the session row in D1 first, so a live row means "not revoked".
  const revokedInD1 = async () => {
    const row = await readStored();
    return !row || !row.sessionLive;
  };
  const [revoked, user] = await Promise.all([
    isTokenRevoked(stores.KV, { sid: verified.sid, sub: verified.sub, iat: verified.iat }, now, revokedInD1),
    options.fresh ? readStored() : undefined,
  ]);
  if (revoked) throw invalidToken('The access token has been revoked.');
  let claims = verified;
  if (options.fresh) {
    if (!user || user.user.disabled) throw invalidToken('The account no longer exists or is disabled.');
    if (!user.sessionLive) throw invalidToken('The access token has been revoked.');
    claims = { ...verified, username: user.user.username, roles: parseRoles(user.user.roles) };
  }
  const roles = options.roles ?? [];
  if (roles.length > 0 && !roles.some((r) => claims.roles.includes(r))) throw insufficientScope(roles);
  return claims;
}
