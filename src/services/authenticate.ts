// authenticate: the one answer to "is this access token good right now?", shared by requireAuth
// (HTTP) and the AuthService RPC entrypoint (other Workers), so both apply exactly the same
// checks: RFC 8725 verification against the key ring (tokens/access.ts), then the revocation list,
// then (with `fresh`) the stored user.
import type { Config } from '../config';
import { findUserById, parseRoles } from '../db/users';
import { insufficientScope, invalidToken } from '../errors';
import { verifyAccessToken, type AccessClaims } from '../tokens/access';
import { keyRing } from '../tokens/keys';
import { isSessionRevoked } from '../tokens/revocation';

export interface AuthStores {
  DB: D1Database;
  KV: KVNamespace;
}

export interface AuthenticateOptions {
  /** Admit tokens holding any of these roles (none: any valid token). */
  roles?: readonly string[];
  /**
   * Also read the user from D1 (one read, concurrent with the KV read): deleted or disabled users
   * are refused at once and the stored roles and username replace the token's.
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
  const [revoked, user] = await Promise.all([
    isSessionRevoked(stores.KV, verified.sid, now),
    options.fresh ? findUserById(stores.DB, verified.sub) : undefined,
  ]);
  if (revoked) throw invalidToken('The access token has been revoked.');
  let claims = verified;
  if (options.fresh) {
    if (!user || user.disabled) throw invalidToken('The account no longer exists or is disabled.');
    claims = { ...verified, username: user.username, roles: parseRoles(user.roles) };
  }
  const roles = options.roles ?? [];
  if (roles.length > 0 && !roles.some((r) => claims.roles.includes(r))) throw insufficientScope(roles);
  return claims;
}
