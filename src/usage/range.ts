// The time range and buckets of a usage read (docs/usage.md "Reading usage"): ISO 8601 bounds,
// aligned outwards to whole buckets, with a span bounded per granularity so a read stays small.
import * as z from 'zod/mini';
import { AppError } from '../errors';
import { DAY_SECONDS, HOUR_SECONDS } from './meter';
import type { UsageRange } from './store';

export type Granularity = 'hour' | 'day';
const BUCKET: Record<Granularity, number> = { hour: HOUR_SECONDS, day: DAY_SECONDS };
/** At most 31 days of hours (744 buckets per route) or 366 days of days. */
export const MAX_SPAN: Record<Granularity, number> = { hour: 31 * DAY_SECONDS, day: 366 * DAY_SECONDS };
/** A read without `from` covers 24 hours up to `to` (by default, the end of the current bucket). */
export const DEFAULT_SPAN_SECONDS = DAY_SECONDS;

// RFC 3339 date-time (a profile of ISO 8601), or a bare date (UTC midnight).
const ISO = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

export const isoTime = (name: string) =>
  z.pipe(
    z.string().check(z.regex(ISO, `${name} must be an ISO 8601 time such as 2026-12-01T00:00:00Z`)),
    z.transform((s: string, ctx) => {
      const ms = Date.parse(s.length === 10 ? `${s}T00:00:00Z` : s);
      if (Number.isNaN(ms) || ms < 0) {
        ctx.issues.push({ code: 'custom', message: `${name} is not a valid time`, input: s });
        return z.NEVER;
      }
      return Math.floor(ms / 1000);
    }),
  );

export const granularity = z.optional(z.enum(['hour', 'day'], { error: 'granularity must be hour or day' }));

/** `from` rounded down and `to` rounded up to whole buckets; 400 invalid_request when empty or too long. */
export function usageRange(q: { from?: number; to?: number; granularity?: Granularity }, now: number): UsageRange & { granularity: Granularity } {
  const g = q.granularity ?? 'hour';
  const bucket = BUCKET[g];
  // `to` is exclusive; without it, the read ends with the current bucket, included.
  const toRaw = q.to ?? now - (now % bucket) + bucket;
  const fromRaw = q.from ?? toRaw - DEFAULT_SPAN_SECONDS;
  if (fromRaw >= toRaw) throw new AppError('invalid_request', 'from must be before to.');
  const from = fromRaw - (fromRaw % bucket);
  const to = Math.ceil(toRaw / bucket) * bucket;
  if (to - from > MAX_SPAN[g]) {
    throw new AppError('invalid_request', `A read by ${g} covers at most ${MAX_SPAN[g] / DAY_SECONDS} days.`);
  }
  return { from, to, bucket, granularity: g };
}

/** Unix seconds as RFC 3339 without fractions: 2026-12-01T05:00:00Z. */
export function isoOf(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
