// The revocation list in KV (entries: tokens/revocation-plan.ts). requireAuth reads at most one
// bulk `get([sid entry, user entry])` per request (never D1). Entries expire when the last access
// token they cover has expired, so the list stays as small as the set of live tokens.
//
// Each isolate remembers answers for a short while (RevocationCache): a "not revoked" answer and
// any user cutoff for REVOCATION_CACHE_SECONDS (added to the stated revocation bound), a revoked
// session for as long as it can matter. Revocations made by this isolate are remembered at once,
// so the location that handles a logout refuses the token immediately.
//
// Writes never fail the request: D1 has already decided (refresh refused everywhere at once), and
// KV refuses a second write to a key within a second (429) or may fail outright. A failed write is
// retried once after KV's write interval; if that fails too it is logged, and the tokens it should
// have refused die at their expiry, the hard bound (docs/consistency.md).
//
// Reads fail closed onto D1, not open: when the KV read fails or misses its deadline, the caller's
// fallback asks D1 (exact: every revocation is decided there first), so a KV outage never lets a
// revoked token through and the stated bound holds; only when D1 fails too is the request a 503
// (docs/resilience.md).
import { describeError, log } from '../lib/log';
import { withDeadline } from '../lib/platform-fault';
import {
  coverSeconds,
  cutoffRevokes,
  KV_MIN_TTL_SECONDS,
  mergeCutoffs,
  parseCutoff,
  planRevocation,
  sessionKey,
  userKey,
  type RevocationTiming,
  type RevokedSession,
  type UserCutoff,
} from './revocation-plan';

export { KV_MIN_TTL_SECONDS, sessionKey, userKey, type RevocationTiming, type RevokedSession };

/** How long an isolate reuses a "not revoked" answer; part of the revocation bound (docs/consistency.md). */
export const REVOCATION_CACHE_SECONDS = 5;
/** A revocation read slower than this is abandoned for the D1 fallback (KV reads normally take a few ms). */
export const REVOCATION_READ_DEADLINE_MS = 1_000;
/** KV accepts about one write per second per key: a refused write is retried after this long. */
export const KV_WRITE_RETRY_MS = 1_100;
/** Entries per isolate and map; the oldest are dropped first (a Map iterates in insertion order). */
const MAX_CACHED = 10_000;
/** A revoked session stays revoked: remembered for as long as any of its tokens can live. */
const REVOKED_CACHE_SECONDS = 86_400;

class ExpiringMap<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();

  get(key: string, now: number): { value: V } | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (now >= entry.until) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  set(key: string, value: V, until: number): void {
    this.entries.delete(key);
    if (this.entries.size >= MAX_CACHED) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, until });
  }
}

interface RevocationCache {
  /** sid -> revoked? */
  sessions: ExpiringMap<boolean>;
  /** uid -> cutoff read from KV (undefined: none) */
  users: ExpiringMap<UserCutoff | undefined>;
  /** uid -> cutoffs this isolate wrote, kept until they expire: a later KV read cannot unlearn them */
  written: ExpiringMap<UserCutoff>;
}

// Per KV namespace binding, which lives as long as the isolate.
const caches = new WeakMap<KVNamespace, RevocationCache>();
function cacheFor(kv: KVNamespace): RevocationCache {
  let cache = caches.get(kv);
  if (!cache) caches.set(kv, (cache = { sessions: new ExpiringMap(), users: new ExpiringMap(), written: new ExpiringMap() }));
  return cache;
}

export interface TokenIdentity {
  sid: string;
  sub: string;
  iat: number;
}

/**
 * At most one KV read (both entries in one bulk get); none while this isolate's answers are fresh.
 * `fallback` answers from D1 when that read fails or is too slow; without one, the fault is thrown.
 */
export async function isTokenRevoked(kv: KVNamespace, token: TokenIdentity, now: number, fallback?: () => Promise<boolean>): Promise<boolean> {
  const cache = cacheFor(kv);
  if (cutoffRevokes(cache.written.get(token.sub, now)?.value, token.sid, token.iat)) return true;
  let session = cache.sessions.get(token.sid, now);
  let user = cache.users.get(token.sub, now);
  if (session?.value) return true;
  if (!session || !user) {
    const sKey = sessionKey(token.sid);
    const uKey = userKey(token.sub);
    let found: Map<string, string | null>;
    try {
      found = await withDeadline(kv.get([sKey, uKey]), REVOCATION_READ_DEADLINE_MS, 'kv', 'revocation read');
    } catch (err) {
      if (!fallback) throw err;
      log('warn', 'revocation.read_failed', { code: 'kv_read_failed', cause: describeError(err) });
      const revokedInD1 = await fallback();
      // D1's answer is exact; cached like a KV answer, so the bound stays what it is.
      cache.sessions.set(token.sid, revokedInD1, now + (revokedInD1 ? REVOKED_CACHE_SECONDS : REVOCATION_CACHE_SECONDS));
      cache.users.set(token.sub, undefined, now + REVOCATION_CACHE_SECONDS);
      return revokedInD1;
    }
    const revoked = found.get(sKey) != null;
    const cutoff = parseCutoff(found.get(uKey));
    cache.sessions.set(token.sid, revoked, now + (revoked ? REVOKED_CACHE_SECONDS : REVOCATION_CACHE_SECONDS));
    // A cutoff can move later at any time: never cached longer than a "not revoked" answer.
    cache.users.set(token.sub, cutoff, now + REVOCATION_CACHE_SECONDS);
    session = { value: revoked };
    user = { value: cutoff };
  }
  return session.value || cutoffRevokes(user.value, token.sid, token.iat);
}

/** One KV write that is retried once after the per-key write interval, and never throws. */
async function put(kv: KVNamespace, key: string, value: () => Promise<string>, ttl: number, what: string): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      await kv.put(key, await value(), { expirationTtl: Math.max(KV_MIN_TTL_SECONDS, ttl) });
      return true;
    } catch (err) {
      const cause = err instanceof Error ? err.name : 'non-error thrown';
      if (attempt >= 2) {
        // The key names a session or a user id, not a secret; the value is not logged.
        log('error', 'revocation.write_failed', { code: 'kv_write_failed', entry: what, cause });
        return false;
      }
      log('warn', 'revocation.write_retry', { code: 'kv_write_refused', entry: what, cause });
      await new Promise((resolve) => setTimeout(resolve, KV_WRITE_RETRY_MS));
    }
  }
}

export interface RevokeScope {
  /** The sessions' user: allows one user cutoff instead of thousands of entries. */
  userId?: string | undefined;
  /** With `userId`: a live session whose tokens the cutoff must spare. */
  except?: string | undefined;
}

/**
 * Puts the access tokens of sessions D1 has just ended on the revocation list: an entry per
 * session, or one user cutoff past SESSION_ENTRY_LIMIT (O(1) KV operations whatever the number
 * of sessions). Returns whether every write landed.
 */
export async function revokeSessionTokens(
  kv: KVNamespace,
  sessions: readonly RevokedSession[],
  timing: RevocationTiming,
  reason: string,
  now: number,
  scope: RevokeScope = {},
): Promise<boolean> {
  const plan = planRevocation(sessions, timing, now, scope);
  const cache = cacheFor(kv);
  const writes: Promise<boolean>[] = plan.sessions.map((s) => {
    cache.sessions.set(s.id, true, now + s.ttl);
    return put(kv, sessionKey(s.id), async () => JSON.stringify({ at: now, reason }), s.ttl, 'session');
  });
  if (plan.cutoff) writes.push(writeCutoff(kv, plan.cutoff.userId, plan.cutoff.value, plan.cutoff.ttl, reason, now));
  return (await Promise.all(writes)).every(Boolean);
}

/** Writes a subject's cutoff merged with what is stored, so a write never moves it back (last write wins in KV). */
function writeCutoff(kv: KVNamespace, subjectId: string, cutoff: UserCutoff, ttl: number, reason: string, now: number): Promise<boolean> {
  const cache = cacheFor(kv);
  const mine = mergeCutoffs(cache.written.get(subjectId, now)?.value, cutoff);
  cache.written.set(subjectId, mine, now + ttl);
  const value = async () => {
    const stored = parseCutoff(await kv.get(userKey(subjectId)));
    return JSON.stringify({ ...mergeCutoffs(stored, mine), at: now, reason });
  };
  return put(kv, userKey(subjectId), value, ttl, 'user');
}

/**
 * Refuses every access token of a subject issued up to now (an OAuth client disabled, deleted or
 * narrowed): one cutoff write, whatever the number of tokens. `before` is the next second, so a
 * token issued earlier in this second is covered too; the caller has already made D1 refuse new
 * tokens for the subject.
 */
export function revokeSubjectTokens(kv: KVNamespace, subjectId: string, timing: RevocationTiming, reason: string, now: number): Promise<boolean> {
  return writeCutoff(kv, subjectId, { before: now + 1 }, Math.max(KV_MIN_TTL_SECONDS, coverSeconds(now, timing, now)), reason, now);
}
