// What the revocation list must hold after sessions end: pure functions, shared by the Worker
// (tokens/revocation.ts) and `npm run user:create` (scripts/lib/user-sql.ts), which write the same
// entries. Two kinds of entry:
//
//   revoked:sid:<session id>  -> {at, reason}
//       refuses every access token carrying that `sid`.
//   revoked:user:<user id>    -> {before, except?, at, reason}
//       refuses every access token of the user with `iat < before`, except those of session
//       `except` (the caller's own, on a password change).
//
// KV allows about 1,000 operations per invocation and one write per second per key, and local KV
// enforces neither. A user with thousands of sessions must cost O(1) writes: up to
// SESSION_ENTRY_LIMIT sessions get their own entries (distinct keys: no write-rate conflict);
// beyond that one user cutoff covers them all (docs/consistency.md "Mass revocation").

/** KV refuses expirationTtl below 60 seconds. */
export const KV_MIN_TTL_SECONDS = 60;

/**
 * Most entries one revocation writes; past it, a user cutoff. Keeps a revocation far below KV's
 * per-invocation operation limit (about 1,000) whatever the number of sessions.
 */
export const SESSION_ENTRY_LIMIT = 10;

/**
 * A cutoff may be overwritten by a concurrent writer's older cutoff (KV: last write wins), at
 * most this many seconds older (the retry delay and clock skew). Sessions used within that margin
 * before the cutoff also get their own entry, so such a regression uncovers no token.
 */
export const CUTOFF_MARGIN_SECONDS = 2;

export const sessionKey = (sid: string) => `revoked:sid:${sid}`;
export const userKey = (uid: string) => `revoked:user:${uid}`;

export interface RevokedSession {
  id: string;
  /** Last time an access token was issued for the session (Unix seconds). */
  lastUsedAt: number;
}

export interface RevocationTiming {
  accessTtl: number;
  leeway: number;
}

export interface UserCutoff {
  /** Access tokens with `iat` below this are refused. */
  before: number;
  /** A session whose tokens the cutoff spares (the caller of a password change). */
  except?: string;
}

export interface RevocationPlan {
  /** Sessions that get their own entry, each with its TTL (seconds). */
  sessions: { id: string; ttl: number }[];
  /** The user cutoff, with its TTL, when too many sessions for entries of their own. */
  cutoff?: { userId: string; value: UserCutoff; ttl: number };
}

/**
 * Seconds until every access token issued for the session at or before `lastUsedAt` has expired,
 * leeway included; 0 when none can still be valid (then no entry is needed at all).
 */
export function coverSeconds(lastUsedAt: number, timing: RevocationTiming, now: number): number {
  return Math.max(0, lastUsedAt + timing.accessTtl + timing.leeway - now + 1);
}

/** Entries for `ended` sessions (D1 has already ended them); `userId` allows a user cutoff. */
export function planRevocation(
  ended: readonly RevokedSession[],
  timing: RevocationTiming,
  now: number,
  scope: { userId?: string | undefined; except?: string | undefined } = {},
): RevocationPlan {
  const live = ended.filter((s) => coverSeconds(s.lastUsedAt, timing, now) > 0);
  const own = (rows: readonly RevokedSession[]) => rows.map((s) => ({ id: s.id, ttl: Math.max(KV_MIN_TTL_SECONDS, coverSeconds(s.lastUsedAt, timing, now)) }));
  if (scope.userId === undefined || live.length <= SESSION_ENTRY_LIMIT) return { sessions: own(live) };

  // Every token issued before `now` is covered by the cutoff. Sessions used since (this second,
  // or later on a clock slightly ahead) and within the margin get their own entries; if a burst
  // made those too many, the cutoff moves past them instead.
  let before = now;
  let recent = live.filter((s) => s.lastUsedAt >= before - CUTOFF_MARGIN_SECONDS);
  if (recent.length > SESSION_ENTRY_LIMIT) {
    before = Math.max(...recent.map((s) => s.lastUsedAt)) + 1 + CUTOFF_MARGIN_SECONDS;
    recent = [];
  }
  const value: UserCutoff = scope.except === undefined ? { before } : { before, except: scope.except };
  return { sessions: own(recent), cutoff: { userId: scope.userId, value, ttl: Math.max(KV_MIN_TTL_SECONDS, coverSeconds(before, timing, now)) } };
}

/** Whether a cutoff refuses a token of session `sid` issued at `iat`. */
export function cutoffRevokes(cutoff: UserCutoff | undefined, sid: string, iat: number): boolean {
  return cutoff !== undefined && iat < cutoff.before && cutoff.except !== sid;
}

/**
 * Two cutoffs as one that refuses at least what either refuses: the later `before`, and an
 * exception only if both spare the same session (otherwise none: the spared caller refreshes).
 */
export function mergeCutoffs(a: UserCutoff | undefined, b: UserCutoff): UserCutoff {
  if (!a) return b;
  const before = Math.max(a.before, b.before);
  return a.except !== undefined && a.except === b.except ? { before, except: a.except } : { before };
}

/** A stored cutoff, or undefined for anything that is not one (never trust a value's shape). */
export function parseCutoff(raw: string | null | undefined): UserCutoff | undefined {
  if (!raw) return undefined;
  try {
    const value = JSON.parse(raw) as { before?: unknown; except?: unknown };
    if (typeof value.before !== 'number') return undefined;
    return typeof value.except === 'string' ? { before: value.before, except: value.except } : { before: value.before };
  } catch {
    return undefined;
  }
}
