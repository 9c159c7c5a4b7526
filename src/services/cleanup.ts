// The scheduled clean-up (cron trigger in wrangler.toml): deletes what can no longer matter.
// - sessions that can no longer be refreshed (revoked, or past either expiry) AND whose last access
//   token has expired, leeway included: until then a logout or admin action must still be able to
//   find the row and put the session on the revocation list;
// - audit rows older than AUDIT_RETENTION_DAYS;
// - retired signing keys whose overlap has passed (tokens/keys.ts);
// - API keys revoked or expired more than a day ago (their KV copies are gone by then: deleted at
//   revocation, expired with the key);
// - mfa_tokens and WebAuthn challenges past their expiry (src/mfa/challenges.ts);
// - usage counters of hours that ended more than USAGE_RETENTION_DAYS ago (docs/usage.md).
// Deletes run in bounded batches (D1 limits a statement's work and a Worker's wall time), up to a
// cap per run; whatever is left waits for the next run.
import type { Config } from '../config';
import { purgeRetiredKeys } from '../tokens/keys';

export const CLEANUP_BATCH_SIZE = 500;
/** Batches per table per run: at most 20 x 500 = 10,000 rows of each kind. */
export const CLEANUP_MAX_BATCHES = 20;
const DAY_SECONDS = 86_400;

export interface CleanupResult {
  sessions: number;
  audit: number;
  keys: number;
  apiKeys: number;
  mfaChallenges: number;
  usage: number;
  /** True when a cap was reached: more is left for the next run. */
  capped: boolean;
}

export interface CleanupLimits {
  batchSize?: number;
  maxBatches?: number;
}

/**
 * Runs `DELETE ... WHERE rowid IN (SELECT rowid ... LIMIT n)` until less than a batch is left.
 * Plain SQL: drizzle cannot express a limited delete. `table` and `where` are constants of this
 * module; every value is bound.
 */
async function deleteInBatches(db: D1Database, table: string, where: string, binds: number[], limits: Required<CleanupLimits>) {
  const statement = db.prepare(`DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE ${where} LIMIT ?)`);
  let total = 0;
  for (let batch = 0; batch < limits.maxBatches; batch++) {
    const result = await statement.bind(...binds, limits.batchSize).run();
    const changes = result.meta.changes ?? 0;
    total += changes;
    if (changes < limits.batchSize) return { total, capped: false };
  }
  return { total, capped: true };
}

export async function runCleanup(db: D1Database, config: Config, now: number, limits: CleanupLimits = {}): Promise<CleanupResult> {
  const l = { batchSize: limits.batchSize ?? CLEANUP_BATCH_SIZE, maxBatches: limits.maxBatches ?? CLEANUP_MAX_BATCHES };
  // The last access token of a session was issued at last_used_at; it is refused by everyone
  // after last_used_at + ACCESS_TOKEN_TTL + CLOCK_LEEWAY.
  const tokensDeadBefore = now - config.accessTtl - config.leeway;
  const sessions = await deleteInBatches(
    db,
    'sessions',
    '(revoked_at IS NOT NULL OR refresh_expires_at <= ? OR expires_at <= ?) AND last_used_at < ?',
    [now, now, tokensDeadBefore],
    l,
  );
  const audit = await deleteInBatches(db, 'audit_log', 'at < ?', [now - config.auditRetentionDays * DAY_SECONDS], l);
  const keys = await purgeRetiredKeys(db, now);
  const apiKeys = await deleteInBatches(db, 'api_keys', '(revoked_at IS NOT NULL AND revoked_at < ?) OR expires_at < ?', [now - DAY_SECONDS, now - DAY_SECONDS], l);
  const mfaChallenges = await deleteInBatches(db, 'mfa_challenges', 'expires_at < ?', [now], l);
  // An hour row is kept while any part of its hour lies within the retention window.
  const usage = await deleteInBatches(db, 'usage_counters', 'hour < ?', [now - config.usage.retentionDays * DAY_SECONDS - 3600], l);
  return {
    sessions: sessions.total,
    audit: audit.total,
    keys,
    apiKeys: apiKeys.total,
    mfaChallenges: mfaChallenges.total,
    usage: usage.total,
    capped: sessions.capped || audit.capped || apiKeys.capped || mfaChallenges.capped || usage.capped,
  };
}
