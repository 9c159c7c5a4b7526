// POST /oauth/token, grant_type=client_credentials (RFC 6749 section 4.4): an access token whose
// `sub` and `client_id` are the client (RFC 9068 section 2.2), with the client's roles narrowed by
// `scope`. No refresh token: the client authenticates again when it needs a new one.
import { randomId } from '../crypto/random';
import { parseRoles } from '../db/users';
import type { OAuthClientRow } from '../db/schema';
import type { Config } from '../config';
import { ROLE_PATTERN } from '../lib/validation';
import { signAccessToken } from '../tokens/access';
import { keyRing } from '../tokens/keys';
import { OAuthError } from './errors';

/** RFC 6749 section 3.3: space-delimited; here each scope is a role name the client holds. */
export function grantedRoles(client: OAuthClientRow, scope: string | undefined): string[] {
  const allowed = parseRoles(client.roles);
  if (scope === undefined) return allowed;
  const asked = [...new Set(scope.split(' ').filter(Boolean))];
  if (asked.length === 0 || asked.some((s) => !ROLE_PATTERN.test(s) || !allowed.includes(s))) {
    throw new OAuthError('invalid_scope', 'The requested scope is not granted to this client.');
  }
  return asked;
}

export interface ClientTokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}

export async function issueClientToken(db: D1Database, config: Config, client: OAuthClientRow, scope: string | undefined, now: number): Promise<ClientTokenResponse> {
  const roles = grantedRoles(client, scope);
  // Each token gets its own `sid`: /oauth/revoke can refuse one token without touching the others.
  const issued = await signAccessToken(keyRing(db, config), config, { userId: client.id, username: client.name, sessionId: randomId(), roles, clientId: client.id }, now);
  return { access_token: issued.token, token_type: 'Bearer', expires_in: issued.expiresIn, scope: roles.join(' ') };
}
