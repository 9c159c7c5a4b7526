// The revocation list in KV. A session's entry refuses every access token carrying its `sid`;
// requireAuth reads at most one key per request (never D1). Entries expire when the last access
// token they cover has expired, so the list stays as small as the set of live tokens.
//
// Each isolate remembers answers for a short while (RevocationCache): a "not revoked" answer for
// REVOCATION_CACHE_SECONDS (added to the stated revocation bound), a "revoked" one for as long as
// it can matter. Revocations made by this isolate are remembered at once, so the location that
// handles a logout refuses the token immediately.

/** KV refuses expirationTtl below 60 seconds. */
export const KV_MIN_TTL_SECONDS = 60;

/** `revoked:sid:<session id>` -> {at, reason}; exported for scripts/user-create.ts, which writes the same entries. */
export const sessionKey = (sid: string) => `revoked:sid:${sid}`;

export interface RevokedSession {
  id: string;
  /** Last time an access token was issued for the session (Unix seconds). */
  lastUsedAt: number;
}

export interface RevocationTiming {
  accessTtl: number;
  leeway: number;
}

/**
 * Seconds until every access token issued for the session at or before `lastUsedAt` has expired,
 * leeway included; 0 when none can still be valid (then no entry is needed at all).
 */
export function coverSeconds(lastUsedAt: number, timing: RevocationTiming, now: number): number {
  return Math.max(0, lastUsedAt + timing.accessTtl + timing.leeway - now + 1);
}

/** How long an isolate reuses a "not revoked" answer; part of the revocation bound (docs/consistency.md). */
export const REVOCATION_CACHE_SECONDS = 5;
/** Entries per isolate; the oldest are dropped first (a Map iterates in insertion order). */
const MAX_CACHED_SESSIONS = 10_000;

class RevocationCache {
  private readonly entries = new Map<string, { revoked: boolean; until: number }>();

  get(sid: string, now: number): boolean | undefined {
    const entry = this.entries.get(sid);
    if (!entry) return undefined;
    if (now >= entry.until) {
      this.entries.delete(sid);
      return undefined;
    }
    return entry.revoked;
  }

  set(sid: string, revoked: boolean, until: number): void {
    this.entries.delete(sid);
    if (this.entries.size >= MAX_CACHED_SESSIONS) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(sid, { revoked, until });
  }
}

// Per KV namespace binding, which lives as long as the isolate.
const caches = new WeakMap<KVNamespace, RevocationCache>();
function cacheFor(kv: KVNamespace): RevocationCache {
  let cache = caches.get(kv);
  if (!cache) caches.set(kv, (cache = new RevocationCache()));
  return cache;
}

export async function revokeSessionTokens(
  kv: KVNamespace,
  sessions: readonly RevokedSession[],
  timing: RevocationTiming,
  reason: string,
  now: number,
): Promise<void> {
  await Promise.all(
    sessions.map((s) => {
      const ttl = coverSeconds(s.lastUsedAt, timing, now);
      if (ttl === 0) return undefined;
      cacheFor(kv).set(s.id, true, now + ttl);
      return kv.put(sessionKey(s.id), JSON.stringify({ at: now, reason }), {
        expirationTtl: Math.max(KV_MIN_TTL_SECONDS, ttl),
      });
    }),
  );
}

/** At most one KV read; none while this isolate's answer for the session is fresh. */
export async function isSessionRevoked(kv: KVNamespace, sid: string, now: number): Promise<boolean> {
  const cache = cacheFor(kv);
  const cached = cache.get(sid, now);
  if (cached !== undefined) return cached;
  const revoked = (await kv.get(sessionKey(sid))) !== null;
  // A revoked session stays revoked: remember it for as long as any of its tokens can live.
  cache.set(sid, revoked, now + (revoked ? 86_400 : REVOCATION_CACHE_SECONDS));
  return revoked;
}
