// authenticate: the one answer to "is this access token good right now?", shared by requireAuth
// (HTTP) and the AuthService RPC entrypoint (other Workers), so both apply exactly the same
// checks: RFC 8725 verification against the key ring (tokens/access.ts), then the revocation list.
import type { Config } from '../config';
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
}

/** The verified claims of `token`; throws AppError invalid_token / insufficient_scope otherwise. */
export async function authenticate(
  stores: AuthStores,
  config: Config,
  token: string,
  now: number,
  options: AuthenticateOptions = {},
): Promise<AccessClaims> {
  const claims = await verifyAccessToken(keyRing(stores.DB, config), config, token, now);
  if (await isSessionRevoked(stores.KV, claims.sid)) throw invalidToken('The access token has been revoked.');
  const roles = options.roles ?? [];
  if (roles.length > 0 && !roles.some((r) => claims.roles.includes(r))) throw insufficientScope(roles);
  return claims;
}
