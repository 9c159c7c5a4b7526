// The KV copy of a personal API key, `apikey:<sha256(key)>` -> {id, uid, username, roles, exp}:
// pure functions, shared by the Worker (tokens/api-keys.ts, syncApiKeys) and `npm run user:create`
// (scripts/lib/user-sql.ts), which must write the same record when it changes an owner's roles.
import { KV_MIN_TTL_SECONDS } from './revocation-plan';

export const apiKeyRecordKey = (hash: string) => `apikey:${hash}`;

export interface ApiKeyRecord {
  /** Key id (D1 `api_keys.id`). */
  id: string;
  /** Owner's user id. */
  uid: string;
  /** Owner's username, for the subject the request resolves to. */
  username: string;
  /** Roles usable now: the key's, intersected with its owner's. */
  roles: string[];
  /** Expiry, Unix seconds. */
  exp: number;
}

/**
 * The copy of a live key (not revoked, owner enabled) and how long KV keeps it: until the key
 * expires, and never less than KV's minimum TTL.
 */
export function apiKeyCopy(
  key: { id: string; keyHash: string; roles: readonly string[]; expiresAt: number },
  owner: { id: string; username: string; roles: readonly string[] },
  now: number,
): { key: string; record: ApiKeyRecord; ttl: number } {
  return {
    key: apiKeyRecordKey(key.keyHash),
    record: { id: key.id, uid: owner.id, username: owner.username, roles: key.roles.filter((r) => owner.roles.includes(r)), exp: key.expiresAt },
    ttl: Math.max(KV_MIN_TTL_SECONDS, key.expiresAt - now),
  };
}
