// The per-isolate usage meter (docs/usage.md). Contract:
// - `record` only adds to memory: a counted request never writes D1 or KV on its own response path.
// - The pending counts are written in one batched upsert (store.ts addUsage) run under waitUntil, as
//   soon as USAGE_FLUSH_EVENTS requests are pending or the oldest pending one is USAGE_FLUSH_SECONDS
//   old, whichever comes first (checked as requests are recorded: no timer keeps an isolate busy).
// - Loss bound: an isolate evicted between flushes loses what is pending, fewer than
//   USAGE_FLUSH_EVENTS requests (docs/consistency.md); a failed flush puts its rows back, to go out
//   with the next one, up to MAX_PENDING_KEYS rows.
// - Upserts add, so flushes of several isolates, or overlapping flushes of one, commute.
import type { Config, Env } from '../config';
import { describeError, log } from '../lib/log';
import type { SubjectType } from '../services/authenticate';
import { addUsage, type UsageCounts, type UsageRow } from './store';

export const HOUR_SECONDS = 3600;
export const DAY_SECONDS = 86_400;
/** Rows held at most: distinct subjects x routes x hours between flushes. Beyond it, counts are dropped (and logged). */
export const MAX_PENDING_KEYS = 10_000;

export interface UsageEvent {
  subjectType: SubjectType;
  subjectId: string;
  /** "<METHOD> <pattern>" (route-key.ts). */
  route: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  /** Unix seconds. */
  at: number;
}

function statusClass(status: number): 's2' | 's3' | 's4' | 's5' {
  if (status < 300) return 's2';
  if (status < 400) return 's3';
  if (status < 500) return 's4';
  return 's5';
}

function rowKey(r: Pick<UsageRow, 'subjectType' | 'subjectId' | 'route' | 'start'>): string {
  return `${r.subjectType}\u0000${r.subjectId}\u0000${r.route}\u0000${r.start}`;
}

export function subjectKey(type: SubjectType, id: string): string {
  return `${type}:${id}`;
}

export class UsageMeter {
  #pending = new Map<string, UsageRow>();
  #events = 0;
  /** When the oldest pending request was recorded (Unix seconds). */
  #oldest: number | undefined;
  /** Requests recorded per subject since `markRead` (the per-day quota's local part). */
  #sinceRead = new Map<string, number>();
  /** Counts dropped because MAX_PENDING_KEYS was reached, or lost by failed flushes that could not be kept. */
  dropped = 0;

  constructor(
    private readonly db: D1Database,
    private readonly settings: Pick<Config['usage'], 'flushSeconds' | 'flushEvents'>,
  ) {}

  /** Adds one request; true when a flush is due. */
  record(event: UsageEvent): boolean {
    const start = event.at - (event.at % HOUR_SECONDS);
    const counts: UsageCounts = { requests: 1, s2: 0, s3: 0, s4: 0, s5: 0, bytesIn: event.bytesIn, bytesOut: event.bytesOut };
    counts[statusClass(event.status)] = 1;
    this.#add({ subjectType: event.subjectType, subjectId: event.subjectId, route: event.route, start, ...counts });
    this.#events++;
    this.#oldest ??= event.at;
    if (this.#sinceRead.size > 0) {
      const subject = subjectKey(event.subjectType, event.subjectId);
      const seen = this.#sinceRead.get(subject);
      if (seen !== undefined) this.#sinceRead.set(subject, seen + 1);
    }
    return this.#events >= this.settings.flushEvents || event.at - this.#oldest >= this.settings.flushSeconds;
  }

  #add(row: UsageRow): void {
    const key = rowKey(row);
    const held = this.#pending.get(key);
    if (held) {
      held.requests += row.requests;
      held.s2 += row.s2;
      held.s3 += row.s3;
      held.s4 += row.s4;
      held.s5 += row.s5;
      held.bytesIn += row.bytesIn;
      held.bytesOut += row.bytesOut;
    } else if (this.#pending.size < MAX_PENDING_KEYS) {
      this.#pending.set(key, { ...row });
    } else {
      this.dropped += row.requests;
    }
  }

  /** Requests pending (not yet flushed). */
  get pendingRequests(): number {
    let n = 0;
    for (const row of this.#pending.values()) n += row.requests;
    return n;
  }

  /**
   * The per-day quota read D1's count for `subject` now: from here on, count what this isolate
   * records for it. Starts with what is pending here (not in D1 yet).
   */
  markRead(type: SubjectType, id: string, since: number): void {
    let pending = 0;
    for (const row of this.#pending.values()) {
      if (row.subjectType === type && row.subjectId === id && row.start >= since) pending += row.requests;
    }
    if (this.#sinceRead.size >= MAX_PENDING_KEYS) this.#sinceRead.clear();
    this.#sinceRead.set(subjectKey(type, id), pending);
  }

  /** Requests recorded for `subject` since its last `markRead` (plus what was pending then). */
  localSinceRead(type: SubjectType, id: string): number {
    return this.#sinceRead.get(subjectKey(type, id)) ?? 0;
  }

  /** Writes everything pending in one batched upsert. Never throws: a failure puts the rows back. */
  async flush(): Promise<void> {
    if (this.#pending.size === 0) return;
    const rows = [...this.#pending.values()];
    this.#pending = new Map();
    this.#events = 0;
    this.#oldest = undefined;
    try {
      await addUsage(this.db, rows);
    } catch (err) {
      for (const row of rows) {
        this.#add(row);
        this.#events += row.requests;
      }
      log('warn', 'usage.flush_failed', { code: 'usage_flush_failed', rows: rows.length, cause: describeError(err) });
    }
  }
}

const meters = new WeakMap<Env, UsageMeter>();

/** This isolate's meter for `env` (one per env object, like the configuration). */
export function meterFor(env: Env, config: Config): UsageMeter {
  let meter = meters.get(env);
  if (!meter) {
    meter = new UsageMeter(env.DB, config.usage);
    meters.set(env, meter);
  }
  return meter;
}
