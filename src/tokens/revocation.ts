// The revocation list in KV. A session's entry refuses every access token carrying its `sid`;
// requireAuth reads exactly one key per request (never D1). Entries expire when the last access
// token they cover has expired, so the list stays as small as the set of live tokens.

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
      return kv.put(sessionKey(s.id), JSON.stringify({ at: now, reason }), {
        expirationTtl: Math.max(KV_MIN_TTL_SECONDS, ttl),
      });
    }),
  );
}

/** One KV read. */
export async function isSessionRevoked(kv: KVNamespace, sid: string): Promise<boolean> {
  return (await kv.get(sessionKey(sid))) !== null;
}
