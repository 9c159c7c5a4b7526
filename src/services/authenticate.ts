// authenticate: the one answer to "who is calling, and may they?", shared by requireAuth (HTTP),
// the AuthService RPC entrypoint and the OAuth introspection endpoint, so all apply exactly the
// same checks. Every credential resolves to one subject (DESIGN.md "one subject model"):
//   - a user, by an access token of a session;
//   - an API key, owned by a user, with at most its owner's roles (tokens/api-keys.ts);
//   - an OAuth client, by a client_credentials access token (`client_id` claim).
// Access tokens: RFC 8725 verification against the key ring (tokens/access.ts), then the
// revocation list; with `fresh`, the stored state in D1 decides.
import type { Config } from '../config';
import { apiKeyWithOwner } from '../db/api-keys';
import { findClient } from '../db/clients';
import { findUserWithSession, parseRoles } from '../db/users';
import { AppError, insufficientScope, invalidToken } from '../errors';
import { PlatformFault } from '../lib/platform-fault';
import { verifyAccessToken, type AccessClaims } from '../tokens/access';
import { looksLikeApiKey } from '../tokens/api-key-format';
import { lookupApiKey, noteApiKeyUse } from '../tokens/api-keys';
import { keyRing } from '../tokens/keys';
import { isTokenRevoked } from '../tokens/revocation';

export interface AuthStores {
  DB: D1Database;
  KV: KVNamespace;
}

export type SubjectType = 'user' | 'api_key' | 'client';

/** What a verified credential stands for (also the RPC `verify` answer's `claims`). */
export interface Subject {
  type: SubjectType;
  /** User id (for users and their API keys) or client_id. */
  sub: string;
  /** Username, or the client's name. */
  username: string;
  roles: string[];
  exp: number;
  /** Session id (user), key id (API key), or the client token's own id. */
  sid: string;
  /** Token id; the key id for API keys. */
  jti: string;
  /** Issued-at of an access token (absent for API keys). */
  iat?: number;
  client_id?: string;
  key_id?: string;
  /** RFC 8176 methods and time of the session's sign-in (user access tokens only). */
  amr?: string[];
  auth_time?: number;
}

export interface AuthenticateOptions {
  /** Admit credentials holding any of these roles (none: any valid credential). */
  roles?: readonly string[];
  /**
   * Also read the stored state from D1 (one read, concurrent with the KV read): for a user the
   * user and the token's session (deleted or disabled users and sessions D1 has ended are refused
   * at once; without the session, a token of an ended session would carry roles granted after it
   * ended wherever KV has not caught up: docs/security.md, audit finding 1); for an API key the
   * key and its owner; for a client the client. The stored roles and names replace the token's.
   */
  fresh?: boolean;
  /** Runs work after the response (waitUntil): API keys' "last used" bookkeeping. */
  defer?: (work: Promise<unknown>) => void;
}

function subjectOfClaims(claims: AccessClaims): Subject {
  const base = { sub: claims.sub, username: claims.username, roles: claims.roles, exp: claims.exp, sid: claims.sid, jti: claims.jti, iat: claims.iat };
  if (claims.client_id !== undefined) return { type: 'client', ...base, client_id: claims.client_id };
  const user: Subject = { type: 'user', ...base };
  if (claims.amr !== undefined) user.amr = claims.amr;
  if (claims.auth_time !== undefined) user.auth_time = claims.auth_time;
  return user;
}

/** The subject of `credential` (access token or API key); throws AppError invalid_token / insufficient_scope otherwise. */
export async function authenticate(
  stores: AuthStores,
  config: Config,
  credential: string,
  now: number,
  options: AuthenticateOptions = {},
): Promise<Subject> {
  const subject = looksLikeApiKey(credential)
    ? await authenticateApiKey(stores, credential, now, options)
    : await authenticateAccessToken(stores, config, credential, now, options);
  const roles = options.roles ?? [];
  if (roles.length > 0 && !roles.some((r) => subject.roles.includes(r))) throw insufficientScope(roles);
  return subject;
}

async function authenticateAccessToken(stores: AuthStores, config: Config, token: string, now: number, options: AuthenticateOptions): Promise<Subject> {
  const verified = await verifyAccessToken(keyRing(stores.DB, config), config, token, now);
  const subject = subjectOfClaims(verified);
  // One D1 read at most, shared by the fresh check and the fallback for a failed KV read.
  let stored: Promise<Subject> | undefined;
  const readStored = () => (stored ??= storedState(stores.DB, subject));
  const revokedInD1 = async () => {
    // A client token has no D1 row of its own: while KV cannot answer, whether it was revoked on
    // its own (/oauth/revoke) cannot be known, so the request waits for KV (503), never fails open.
    if (subject.type === 'client') throw new PlatformFault('kv', 'revocation read failed for a client token');
    // Every revocation ends the session row in D1 first, so a live row means "not revoked".
    try {
      await readStored();
      return false;
    } catch (err) {
      if (err instanceof AppError && err.code === 'invalid_token') return true;
      throw err;
    }
  };
  const [revoked, fresh] = await Promise.all([
    isTokenRevoked(stores.KV, { sid: verified.sid, sub: verified.sub, iat: verified.iat }, now, revokedInD1),
    options.fresh ? readStored() : undefined,
  ]);
  if (revoked) throw invalidToken('The access token has been revoked.');
  return fresh ?? subject;
}

/** The fresh view of a token's subject from D1; throws invalid_token when D1 says it is gone. */
async function storedState(db: D1Database, subject: Subject): Promise<Subject> {
  if (subject.type === 'client') {
    const client = await findClient(db, subject.sub);
    if (!client || client.disabled) throw invalidToken('The client no longer exists or is disabled.');
    const allowed = parseRoles(client.roles);
    return { ...subject, username: client.name, roles: subject.roles.filter((r) => allowed.includes(r)) };
  }
  const found = await findUserWithSession(db, subject.sub, subject.sid);
  if (!found || found.user.disabled) throw invalidToken('The account no longer exists or is disabled.');
  if (!found.sessionLive) throw invalidToken('The access token has been revoked.');
  return { ...subject, username: found.user.username, roles: parseRoles(found.user.roles) };
}

async function authenticateApiKey(stores: AuthStores, key: string, now: number, options: AuthenticateOptions): Promise<Subject> {
  const record = await lookupApiKey(stores.KV, key, now);
  if (!record) throw invalidToken('The API key is invalid, expired or revoked.');
  noteApiKeyUse(stores.DB, record.id, now, options.defer);
  let subject: Subject = { type: 'api_key', sub: record.uid, username: record.username, roles: record.roles, exp: record.exp, sid: record.id, jti: record.id, key_id: record.id };
  if (options.fresh) {
    const found = await apiKeyWithOwner(stores.DB, record.id);
    if (!found || found.key.revokedAt !== null || found.key.expiresAt <= now || found.owner.disabled) {
      throw invalidToken('The API key is invalid, expired or revoked.');
    }
    const ownerRoles = parseRoles(found.owner.roles);
    subject = { ...subject, username: found.owner.username, roles: parseRoles(found.key.roles).filter((r) => ownerRoles.includes(r)) };
  }
  return subject;
}
