// Refresh tokens: opaque 256-bit values, rotated on every use. KV holds `refresh:<sha256>` ->
// {sid, uid} so a token finds its session in one read at the edge; D1 (db/sessions.ts) holds the
// authoritative state and decides every rotation with one conditional UPDATE.
//
// Successors are derived, not random: successor = HMAC(K, sid || parent). Two requests racing with
// the same parent therefore compute the same successor without sharing any state; the one whose
// UPDATE wins stores it, the others find it stored and, inside REFRESH_REUSE_GRACE, return it too.
// K is derived from KEY_ENCRYPTION_KEY, so nobody without the secret can compute a successor.
import type { Config } from '../config';
import { AppError } from '../errors';
import { b64url, utf8 } from '../crypto/encoding';
import { sha256 } from '../crypto/digest';
import { deriveHmacKey } from '../crypto/encrypt';
import { randomId, randomToken } from '../crypto/random';
import {
  findSession,
  findSessionByRefreshHash,
  insertSession,
  type NewSession,
  type RevokedRow,
  type UserGuard,
  revokeSession,
  revokeUserSessions,
  revokedSince,
  rotateSession,
  touchSession,
} from '../db/sessions';
import type { SessionRow, UserRow } from '../db/schema';
import { deleteUserReturningSessions } from '../db/users';
import { describeError, log } from '../lib/log';
import { withDeadline } from '../lib/platform-fault';
import { KV_MIN_TTL_SECONDS, revokeSessionTokens } from './revocation';
import { SESSION_ENTRY_LIMIT } from './revocation-plan';

/** A refresh-record read slower than this is abandoned for the D1 lookup by hash. */
export const RECORD_READ_DEADLINE_MS = 1_000;
const REFRESH_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/; // 32 bytes, base64url
const recordKey = (hash: string) => `refresh:${hash}`;

interface RefreshRecord {
  sid: string;
  uid: string;
}

export interface Stores {
  DB: D1Database;
  KV: KVNamespace;
}

export interface ClientMeta {
  ip: string | null;
  userAgent: string | null;
}

export interface IssuedRefresh {
  sessionId: string;
  userId: string;
  refreshToken: string;
  refreshExpiresAt: number;
  /** How and when the session's sign-in happened (RFC 8176 amr, OIDC auth_time): kept across refreshes. */
  amr: string[];
  authTime: number;
}

export type RefreshOutcome =
  // `stored` settles when the bookkeeping write (the successor's KV record) is done: the caller
  // awaits it together with its own work instead of paying one more round trip in sequence.
  // `user` is the session's user as the rotation's own batch read it (undefined: deleted); the
  // grace path does not read it.
  | ({ kind: 'rotated'; stored: Promise<void>; user: UserRow | undefined } & IssuedRefresh)
  | ({ kind: 'grace'; stored: Promise<void> } & IssuedRefresh)
  | { kind: 'reuse'; sessionId: string; userId: string };

const successorKeys = new Map<string, Promise<CryptoKey>>();

async function successorOf(config: Config, sid: string, parent: string): Promise<string> {
  let key = successorKeys.get(config.keyEncryptionKey);
  if (!key) successorKeys.set(config.keyEncryptionKey, (key = deriveHmacKey(config.keyEncryptionKey, 'refresh-successor')));
  const mac = await crypto.subtle.sign('HMAC', await key, utf8(`${sid}.${parent}`));
  return b64url(new Uint8Array(mac));
}

/**
 * The KV record is a shortcut, not the truth: a token without one is found in D1 by its hash
 * (sessionOf). So a failed write is logged and never fails the login or refresh that D1 has
 * already decided; failing it would hand the client an error for a rotation that happened.
 */
async function putRecord(kv: KVNamespace, hash: string, record: RefreshRecord, expiresAt: number, now: number): Promise<void> {
  try {
    await kv.put(recordKey(hash), JSON.stringify(record), { expirationTtl: Math.max(KV_MIN_TTL_SECONDS, expiresAt - now) });
  } catch (err) {
    log('warn', 'refresh.record_write_failed', { code: 'kv_write_failed', sessionId: record.sid, cause: describeError(err) });
  }
}

/** A session about to be created: its ids, its first refresh token and the row to insert. */
export interface PendingSession extends IssuedRefresh {
  row: NewSession;
}

/** Ids, the first refresh token and its hash for a new session (no storage touched). */
export async function newSession(config: Config, userId: string, meta: ClientMeta, now: number, amr: readonly string[] = ['pwd']): Promise<PendingSession> {
  const sessionId = randomId();
  const refreshToken = randomToken(32);
  const hash = await sha256(refreshToken);
  const expiresAt = now + config.sessionMaxAge;
  const refreshExpiresAt = Math.min(now + config.refreshTtl, expiresAt);
  return {
    sessionId,
    userId,
    refreshToken,
    refreshExpiresAt,
    amr: [...amr],
    authTime: now,
    row: { id: sessionId, userId, refreshHash: hash, refreshExpiresAt, expiresAt, ...meta, amr: JSON.stringify(amr) },
  };
}

/**
 * The KV record of a new session's first refresh token. Written in parallel with the D1 insert: a
 * record whose insert failed points at no session and is refused like any unknown token (D1
 * decides every refresh).
 */
export function putSessionRecord(kv: KVNamespace, pending: PendingSession, now: number): Promise<void> {
  return putRecord(kv, pending.row.refreshHash, { sid: pending.sessionId, uid: pending.userId }, pending.refreshExpiresAt, now);
}

/**
 * A login starts a session: a new refresh-token family with its own id (`sid`). Undefined when the
 * user no longer matches `guard` (changed or deleted while the login was verifying the password).
 * (The login route does the same in one batch with its other writes: db/login.ts.)
 */
export async function startSession(
  stores: Stores,
  config: Config,
  userId: string,
  guard: UserGuard,
  meta: ClientMeta,
  now: number,
  amr: readonly string[] = ['pwd'],
): Promise<IssuedRefresh | undefined> {
  const pending = await newSession(config, userId, meta, now, amr);
  const [created] = await Promise.all([insertSession(stores.DB, pending.row, guard, now), putSessionRecord(stores.KV, pending, now)]);
  return created ? { sessionId: pending.sessionId, userId, refreshToken: pending.refreshToken, refreshExpiresAt: pending.refreshExpiresAt, amr: pending.amr, authTime: pending.authTime } : undefined;
}

function invalidGrant(): AppError {
  return new AppError('invalid_grant');
}

async function sessionOf(stores: Stores, hash: string): Promise<string | undefined> {
  // A failed or slow KV read falls through to D1, which holds the same fact authoritatively.
  const record = await withDeadline(stores.KV.get<RefreshRecord>(recordKey(hash), 'json'), RECORD_READ_DEADLINE_MS, 'kv', 'refresh record read').catch(
    (err: unknown) => (log('warn', 'refresh.record_read_failed', { code: 'kv_read_failed', cause: describeError(err) }), null),
  );
  if (record && typeof record.sid === 'string') return record.sid;
  return (await findSessionByRefreshHash(stores.DB, hash))?.id;
}

/**
 * Exchanges a refresh token for its successor. Throws invalid_grant for unknown, expired or
 * revoked tokens; returns `reuse` (after revoking the session) when a parent is replayed outside
 * the grace window.
 */
export async function rotateRefreshToken(
  stores: Stores,
  config: Config,
  presented: string,
  meta: ClientMeta,
  now: number,
): Promise<RefreshOutcome> {
  if (!REFRESH_TOKEN_PATTERN.test(presented)) throw invalidGrant();
  const hash = await sha256(presented);
  const sid = await sessionOf(stores, hash);
  if (!sid) throw invalidGrant();

  const successor = await successorOf(config, sid, presented);
  const successorHash = await sha256(successor);
  // One round trip: the conditional rotation and the read of the user's current state (roles,
  // disabled) in one batch.
  const { rotated, user } = await rotateSession(
    stores.DB,
    { id: sid, presentedHash: hash, successorHash, refreshTtl: config.refreshTtl, meta },
    now,
  );
  if (rotated) {
    const stored = putRecord(stores.KV, successorHash, { sid, uid: rotated.userId }, rotated.refreshExpiresAt, now);
    return { kind: 'rotated', stored, user, ...issued(rotated, successor) };
  }

  const session = await findSession(stores.DB, sid);
  if (!session || session.revokedAt !== null || session.expiresAt <= now || session.refreshExpiresAt <= now) {
    throw invalidGrant();
  }
  const isParent = session.previousHash === hash && session.currentHash === successorHash;
  if (isParent && session.rotatedAt !== null && now - session.rotatedAt <= config.reuseGrace) {
    if (!(await touchSession(stores.DB, sid, now))) throw invalidGrant(); // revoked meanwhile
    return { kind: 'grace', stored: Promise.resolve(), ...issued(session, successor) };
  }
  // A token of this family that is no longer current, outside the grace window: a replay.
  await endSessions(stores, config, [sid], 'refresh_reuse', now);
  return { kind: 'reuse', sessionId: sid, userId: session.userId };
}

function issued(session: SessionRow, refreshToken: string): IssuedRefresh {
  return { sessionId: session.id, userId: session.userId, refreshToken, refreshExpiresAt: session.refreshExpiresAt, amr: parseAmr(session.amr), authTime: session.createdAt };
}

/** The stored amr column; anything unreadable counts as a password-only sign-in (the weakest claim). */
function parseAmr(stored: string): string[] {
  try {
    const value: unknown = JSON.parse(stored);
    if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')) return value as string[];
  } catch {
    // fall through
  }
  return ['pwd'];
}

/** The session a refresh token belongs to, without using it (logout with a refresh token). */
export async function sessionOfRefreshToken(stores: Stores, presented: string): Promise<string | undefined> {
  if (!REFRESH_TOKEN_PATTERN.test(presented)) return undefined;
  return sessionOf(stores, await sha256(presented));
}

/**
 * Ends sessions: D1 first (refresh is refused at once, everywhere), then the KV revocation list
 * (access tokens refused within KV's propagation bound). Optionally restricted to one user.
 */
export async function endSessions(
  stores: Stores,
  config: Config,
  ids: readonly string[],
  reason: string,
  now: number,
  userId?: string,
): Promise<number> {
  const revoked = [];
  for (const id of ids) {
    const row = await revokeSession(stores.DB, id, reason, now, userId);
    if (row) revoked.push(row);
  }
  // Already revoked but possibly not in KV (a failed earlier attempt): write their entries again.
  const again = userId && revoked.length < ids.length ? await revokedSince(stores.DB, { userId, ids }, liveSince(config, now), ids.length) : [];
  await revokeSessionTokens(stores.KV, dedupe([...revoked, ...again]), timingOf(config), reason, now, { userId });
  return revoked.length;
}

function timingOf(config: Config) {
  return { accessTtl: config.accessTtl, leeway: config.leeway };
}

/** Sessions used after this time may still have live access tokens. */
function liveSince(config: Config, now: number): number {
  return now - config.accessTtl - config.leeway;
}

function dedupe<T extends { id: string }>(rows: T[]): T[] {
  return [...new Map(rows.map((r) => [r.id, r])).values()];
}

/**
 * Ends every live session of a user (logout everywhere, password change, admin action). D1 first,
 * then KV: O(1) KV writes whatever the number of sessions (a user cutoff past
 * SESSION_ENTRY_LIMIT, tokens/revocation-plan.ts).
 */
export async function endUserSessions(
  stores: Stores,
  config: Config,
  userId: string,
  reason: string,
  now: number,
  exceptSessionId?: string,
  /** The D1 write that ends the sessions, when it must carry another change in its batch. */
  revoke: () => Promise<RevokedRow[]> = () => revokeUserSessions(stores.DB, userId, reason, now, exceptSessionId),
): Promise<number> {
  const [revoked, again] = await Promise.all([
    revoke(),
    revokedSince(stores.DB, { userId, exceptId: exceptSessionId }, liveSince(config, now), SESSION_ENTRY_LIMIT + 1),
  ]);
  await revokeSessionTokens(stores.KV, dedupe([...revoked, ...again]), timingOf(config), reason, now, { userId, except: exceptSessionId });
  return revoked.length;
}

/**
 * Deletes a user and refuses their outstanding access tokens: the sessions are revoked and the
 * user deleted in one D1 transaction, then the revocation list gets an entry per live session.
 */
export async function deleteUserEndingSessions(
  stores: Stores,
  config: Config,
  userId: string,
  now: number,
  actorId?: string,
): Promise<{ deleted: boolean; ended: number }> {
  const { deleted, revoked } = await deleteUserReturningSessions(stores.DB, userId, 'user_deleted', now, actorId);
  await revokeSessionTokens(stores.KV, revoked, timingOf(config), 'user_deleted', now, { userId });
  return { deleted, ended: revoked.length };
}
