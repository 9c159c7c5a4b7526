// Quotas (docs/usage.md "Quotas"): a caller's tier comes from USAGE_QUOTAS (src/config.ts): its
// subject first, then its roles, then the default tier. Per minute, the tier's [[ratelimits]]
// binding counts (per Cloudflare location, approximate: PLATFORM.md); per UTC day, the usage
// counters do: D1's count for today, re-read at most every USAGE_FLUSH_SECONDS, plus what this
// isolate counted since. Other isolates' unflushed requests are not seen, so a caller can exceed
// its daily quota by at most USAGE_FLUSH_EVENTS requests per isolate serving it (docs/consistency.md).
// Refusals are 429 quota_exceeded with Retry-After and the IETF RateLimit-Policy / RateLimit fields
// (draft-ietf-httpapi-ratelimit-headers, structured-field syntax). Sign-in, registration, refresh,
// passkey sign-in and the OAuth token endpoint have their own throttles and no quota.
import type { Context } from 'hono';
import type { AppEnv, AuthContext } from '../app-env';
import { ConfigError, QUOTA_MINUTE_SECONDS, type Config, type Env, type QuotaTier } from '../config';
import { AppError } from '../errors';
import { describeError, log } from '../lib/log';
import { withDeadline } from '../lib/platform-fault';
import { DAY_SECONDS, meterFor, subjectKey } from './meter';
import { subjectOf } from './record';
import { requestsSince } from './store';

/** Never under a quota: these routes have their own per-IP and per-account throttles. */
const EXEMPT = /^\/(?:auth\/(?:login|register|refresh|passkey)(?:\/|$)|oauth\/token$)/;

/** The tier deciding for `auth`, if any. */
export function tierFor(quotas: Config['usage']['quotas'], auth: AuthContext): QuotaTier | undefined {
  const subject = subjectOf(auth);
  const own = quotas.subjects.get(subjectKey(subject.type, subject.id));
  if (own) return own;
  for (const [role, tier] of quotas.roles) {
    if (auth.roles.includes(role)) return tier;
  }
  return quotas.fallback;
}

/** RateLimit-Policy: `"minute";q=600;w=60, "day";q=10000;w=86400`. */
function policyField(tier: QuotaTier): string {
  const items: string[] = [];
  if (tier.perMinute) items.push(`"minute";q=${tier.perMinute.limit};w=${QUOTA_MINUTE_SECONDS}`);
  if (tier.perDay) items.push(`"day";q=${tier.perDay};w=${DAY_SECONDS}`);
  return items.join(', ');
}

function exceeded(policy: string, name: 'minute' | 'day', reset: number): AppError {
  return new AppError('quota_exceeded', `The ${name === 'day' ? 'daily' : 'per-minute'} request quota is exhausted; retry in ${reset} s.`, {
    headers: { 'Retry-After': String(reset), 'RateLimit-Policy': policy, RateLimit: `"${name}";r=0;t=${reset}` },
  });
}

interface DayCount {
  day: number;
  readAt: number;
  stored: Promise<number>;
}

const dayCounts = new WeakMap<Env, Map<string, DayCount>>();
/** The daily count's D1 read waits at most this long (then the request goes on, logged). */
export const QUOTA_READ_DEADLINE_MS = 1000;
/** Subjects whose daily count an isolate keeps; beyond it the cache starts over. */
const MAX_CACHED_SUBJECTS = 10_000;

/** Requests counted today for the subject, as this isolate knows it (see the header). */
async function usedToday(c: Context<AppEnv>, auth: AuthContext, now: number): Promise<number> {
  const config = c.get('config');
  const meter = meterFor(c.env, config);
  const subject = subjectOf(auth);
  const key = subjectKey(subject.type, subject.id);
  const day = now - (now % DAY_SECONDS);
  let cache = dayCounts.get(c.env);
  if (!cache) dayCounts.set(c.env, (cache = new Map()));
  let entry = cache.get(key);
  if (!entry || entry.day !== day || now - entry.readAt >= config.usage.flushSeconds) {
    if (cache.size >= MAX_CACHED_SUBJECTS) cache.clear();
    meter.markRead(subject.type, subject.id, day);
    // The daily quota is approximate anyway: a D1 that fails or is slow must not turn every
    // limited request into a 503 (protected routes otherwise need no D1). Counted as 0 until the
    // next re-read, USAGE_FLUSH_SECONDS later; the per-minute limit still holds meanwhile.
    const stored = withDeadline(requestsSince(c.env.DB, subject.type, subject.id, day), QUOTA_READ_DEADLINE_MS, 'd1', 'usage count').catch((err: unknown) => {
      log('warn', 'usage.quota_unavailable', { requestId: c.get('requestId'), code: 'quota_count_unavailable', cause: describeError(err) });
      return 0;
    });
    entry = { day, readAt: now, stored };
    cache.set(key, entry);
  }
  return (await entry.stored) + meter.localSinceRead(subject.type, subject.id);
}

async function minuteAllowed(c: Context<AppEnv>, tier: QuotaTier & { perMinute: object }, key: string): Promise<boolean> {
  const binding = (c.env as unknown as Record<string, RateLimit | undefined>)[tier.perMinute.binding];
  if (typeof binding?.limit !== 'function') {
    throw new ConfigError(`USAGE_QUOTAS.tiers.${tier.name}.binding`, `the [[ratelimits]] binding ${tier.perMinute.binding} is missing`);
  }
  try {
    return (await binding.limit({ key })).success;
  } catch (err) {
    // As the login throttles: a limiter fault must not become an outage; the daily quota still holds.
    log('warn', 'rate_limit.unavailable', { requestId: c.get('requestId'), code: 'rate_limiter_unavailable', binding: tier.perMinute.binding, cause: err instanceof Error ? err.name : 'non-error thrown' });
    return true;
  }
}

/**
 * Refuses the request with 429 quota_exceeded when the caller's tier is exhausted; otherwise notes
 * the RateLimit-Policy / RateLimit fields for the response. After authentication, before the route's work.
 */
export async function enforceQuota(c: Context<AppEnv>, auth: AuthContext): Promise<void> {
  const quotas = c.get('config').usage.quotas;
  if (quotas.tiers.size === 0 || EXEMPT.test(c.req.path)) return;
  const tier = tierFor(quotas, auth);
  if (!tier || (!tier.perMinute && tier.perDay === undefined)) return;
  const now = c.get('now')();
  const policy = policyField(tier);
  let remaining: string | undefined;
  if (tier.perDay !== undefined) {
    const reset = DAY_SECONDS - (now % DAY_SECONDS);
    const used = await usedToday(c, auth, now);
    if (used >= tier.perDay) throw exceeded(policy, 'day', reset);
    remaining = `"day";r=${tier.perDay - used - 1};t=${reset}`;
  }
  if (tier.perMinute) {
    const subject = subjectOf(auth);
    if (!(await minuteAllowed(c, { ...tier, perMinute: tier.perMinute }, subjectKey(subject.type, subject.id)))) {
      throw exceeded(policy, 'minute', QUOTA_MINUTE_SECONDS - (now % QUOTA_MINUTE_SECONDS));
    }
  }
  c.set('quotaHeaders', remaining === undefined ? [['RateLimit-Policy', policy]] : [['RateLimit-Policy', policy], ['RateLimit', remaining]]);
}
