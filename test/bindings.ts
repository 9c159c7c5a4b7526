// Wrappers around the real local bindings, for what local D1 and KV do not do by themselves:
// count KV operations per request, refuse KV writes the way Cloudflare's KV does (one write per
// second per key: 429), run a concurrent change at an exact point inside a D1 operation, and fail,
// delay or refuse calls to D1, KV and the rate limiters on command (faultyEnv). The wrapped calls
// still go to the real local D1 and KV.
import type { Env } from '../src/config';

export interface KvStats {
  gets: number;
  puts: number;
  deletes: number;
  lists: number;
  /** Writes refused by the one-write-per-second-per-key rule. */
  refused: number;
  total(): number;
}

export interface KvOptions {
  /** Refuse a second write to a key within this many milliseconds (Cloudflare KV: about 1,000). */
  writeIntervalMs?: number;
  /** Refuse every write whose key matches, whatever the interval. */
  refuseWrites?: (key: string) => boolean;
}

/** A KV namespace that counts its operations and refuses writes as production KV can. */
export function instrumentedKv(kv: KVNamespace, options: KvOptions = {}): { kv: KVNamespace; stats: KvStats; reset(): void } {
  const stats: KvStats = {
    gets: 0,
    puts: 0,
    deletes: 0,
    lists: 0,
    refused: 0,
    total() {
      return this.gets + this.puts + this.deletes + this.lists;
    },
  };
  const lastWrite = new Map<string, number>();
  const wrapped = {
    get: (key: string | string[], ...rest: unknown[]) => {
      stats.gets++; // a bulk get is one operation
      return (kv.get as (...a: unknown[]) => unknown)(key, ...rest);
    },
    getWithMetadata: (key: string, ...rest: unknown[]) => {
      stats.gets++;
      return (kv.getWithMetadata as (...a: unknown[]) => unknown)(key, ...rest);
    },
    put: async (key: string, ...rest: unknown[]) => {
      stats.puts++;
      const now = Date.now();
      const previous = lastWrite.get(key);
      if (options.refuseWrites?.(key) || (options.writeIntervalMs !== undefined && previous !== undefined && now - previous < options.writeIntervalMs)) {
        stats.refused++;
        throw new Error('KV PUT failed: 429 Too Many Requests');
      }
      lastWrite.set(key, now);
      return (kv.put as (...a: unknown[]) => Promise<void>)(key, ...rest);
    },
    delete: (key: string) => {
      stats.deletes++;
      return kv.delete(key);
    },
    list: (...rest: unknown[]) => {
      stats.lists++;
      return (kv.list as (...a: unknown[]) => unknown)(...rest);
    },
  };
  return {
    kv: wrapped as unknown as KVNamespace,
    stats,
    reset() {
      stats.gets = stats.puts = stats.deletes = stats.lists = stats.refused = 0;
    },
  };
}

/**
 * A D1 database whose every statement (or batch) first awaits `before(sql)`: the one seam that
 * interleavingD1 and faultyEnv use to run a change, wait or throw before the real call.
 */
function wrapD1(db: D1Database, before: (sql: string[]) => Promise<void>, after: (sql: string[]) => Promise<void> = async () => {}): D1Database {
  const sqlOf = new WeakMap<object, string>();
  const realOf = new WeakMap<object, D1PreparedStatement>();
  /** before, the real call, after: `after` may throw once the statement has run (a lost reply). */
  const around = async <T>(sql: string[], call: () => Promise<T>): Promise<T> => {
    await before(sql);
    const result = await call();
    await after(sql);
    return result;
  };
  const wrapStatement = (real: D1PreparedStatement, sql: string): D1PreparedStatement => {
    const wrapper = {
      bind: (...values: unknown[]) => wrapStatement(real.bind(...values), sql),
      first: (...a: unknown[]) => around([sql], () => (real.first as (...x: unknown[]) => Promise<unknown>)(...a)),
      all: () => around([sql], () => real.all()),
      run: () => around([sql], () => real.run()),
      raw: (...a: unknown[]) => around([sql], () => (real.raw as (...x: unknown[]) => Promise<unknown>)(...a)),
    };
    sqlOf.set(wrapper, sql);
    realOf.set(wrapper, real);
    return wrapper as unknown as D1PreparedStatement;
  };
  const wrapped = {
    prepare: (sql: string) => wrapStatement(db.prepare(sql), sql),
    batch: (statements: D1PreparedStatement[]) =>
      around(
        statements.map((s) => sqlOf.get(s) ?? ''),
        () => db.batch(statements.map((s) => realOf.get(s) ?? s)),
      ),
    exec: (sql: string) => around([sql], () => db.exec(sql)),
    // A read-replica session (db/replica.ts) obeys the same wrapper: a fault reaches replica reads too.
    withSession: (...a: unknown[]) => wrapD1((db.withSession as (...x: unknown[]) => unknown)(...a) as D1Database, before, after),
    dump: () => (db as unknown as { dump(): unknown }).dump(),
  };
  return wrapped as unknown as D1Database;
}

/**
 * A D1 database that, the first time a statement (or a batch holding one) whose SQL matches
 * `when` is about to run, first awaits `interleave()`: a change made by "someone else" lands
 * exactly between what the code under test read before and that statement.
 */
export function interleavingD1(db: D1Database, when: RegExp, interleave: () => Promise<void>): { db: D1Database; fired(): boolean } {
  let fired = false;
  const wrapped = wrapD1(db, async (sql) => {
    if (!fired && sql.some((s) => when.test(s))) {
      fired = true;
      await interleave();
    }
  });
  return { db: wrapped, fired: () => fired };
}

// Errors shaped like the ones Workers raises for these faults (src/lib/platform-fault.ts tells
// them apart from bugs by these messages).
export const D1_FAULT_MESSAGE = 'D1_ERROR: Network connection lost.';
export const KV_READ_FAULT_MESSAGE = 'KV GET failed: 503 Service Unavailable';
export const KV_WRITE_REFUSED_MESSAGE = 'KV PUT failed: 429 Too Many Requests';

/** What a faulty binding does with a call: pass it on, throw, or pass it on after a delay. */
export type Fault = 'ok' | 'error' | { delayMs: number };

/**
 * The faults in force, changed by the test at any moment ("on command"). `d1When` limits the D1
 * fault to statements whose SQL matches (default: all). KV writes may also be 'refuse' (429).
 */
export class Faults {
  d1: Fault = 'ok';
  d1When: RegExp | undefined;
  /**
   * With d1 = 'error': the matching statement or batch runs and commits, then the call fails, as
   * when the connection is lost after D1 answered. Tests "landed, but the client saw an error".
   */
  d1LostReply = false;
  kvRead: Fault = 'ok';
  kvWrite: Fault | 'refuse' = 'ok';
  /** 'error': every limiter call throws; 'admit': every call succeeds without counting. */
  rateLimit: 'ok' | 'error' | 'admit' = 'ok';
  /** Calls that reached each binding while a fault (not 'ok') was in force for it. */
  readonly hits = { d1: 0, kvRead: 0, kvWrite: 0, rateLimit: 0 };
  /** Every D1 statement seen (SQL text), faulty or not: to show what a request did to D1. */
  readonly d1Log: string[] = [];

  heal(): void {
    this.d1 = this.kvRead = this.kvWrite = 'ok';
    this.rateLimit = 'ok';
    this.d1When = undefined;
    this.d1LostReply = false;
  }
}

async function apply(fault: Fault, message: string): Promise<void> {
  if (fault === 'ok') return;
  if (fault === 'error') throw new Error(message);
  await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
}

// The quota tiers' limiters too (wrangler.toml, and RL_QUOTA_TEST from vitest.config.ts).
const RATE_LIMITERS = ['RL_LOGIN_IP', 'RL_LOGIN_USER', 'RL_REGISTER_IP', 'RL_REFRESH_IP', 'RL_QUOTA_STANDARD', 'RL_QUOTA_PARTNER', 'RL_QUOTA_TEST'] as const;

/** `env` with D1, KV and every rate-limit binding obeying `faults`. */
export function faultyEnv(env: Env, faults: Faults): Env {
  const matches = (sql: string[]) => faults.d1 !== 'ok' && (!faults.d1When || sql.some((s) => faults.d1When!.test(s)));
  const db = wrapD1(
    env.DB,
    async (sql) => {
      faults.d1Log.push(...sql);
      if (!matches(sql) || (faults.d1LostReply && faults.d1 === 'error')) return;
      faults.hits.d1++;
      await apply(faults.d1, D1_FAULT_MESSAGE);
    },
    async (sql) => {
      if (!faults.d1LostReply || faults.d1 !== 'error' || !matches(sql)) return;
      faults.hits.d1++;
      throw new Error(D1_FAULT_MESSAGE);
    },
  );
  const kv = {
    get: async (...a: unknown[]) => {
      if (faults.kvRead !== 'ok') faults.hits.kvRead++;
      await apply(faults.kvRead, KV_READ_FAULT_MESSAGE);
      return (env.KV.get as (...x: unknown[]) => unknown)(...a);
    },
    getWithMetadata: async (...a: unknown[]) => {
      if (faults.kvRead !== 'ok') faults.hits.kvRead++;
      await apply(faults.kvRead, KV_READ_FAULT_MESSAGE);
      return (env.KV.getWithMetadata as (...x: unknown[]) => unknown)(...a);
    },
    put: async (...a: unknown[]) => {
      if (faults.kvWrite !== 'ok') faults.hits.kvWrite++;
      await apply(faults.kvWrite === 'refuse' ? 'error' : faults.kvWrite, faults.kvWrite === 'refuse' ? KV_WRITE_REFUSED_MESSAGE : 'KV PUT failed: 503 Service Unavailable');
      return (env.KV.put as (...x: unknown[]) => unknown)(...a);
    },
    delete: async (key: string) => {
      if (faults.kvWrite !== 'ok') faults.hits.kvWrite++;
      await apply(faults.kvWrite === 'refuse' ? 'error' : faults.kvWrite, 'KV DELETE failed: 503 Service Unavailable');
      return env.KV.delete(key);
    },
    list: (...a: unknown[]) => (env.KV.list as (...x: unknown[]) => unknown)(...a),
  } as unknown as KVNamespace;
  const limiters = Object.fromEntries(
    RATE_LIMITERS.map((name) => [
      name,
      {
        limit: async (options: RateLimitOptions): Promise<RateLimitOutcome> => {
          if (faults.rateLimit !== 'ok') faults.hits.rateLimit++;
          if (faults.rateLimit === 'error') throw new Error('rate limiter unavailable');
          if (faults.rateLimit === 'admit') return { success: true };
          return (env as unknown as Record<string, RateLimit>)[name]!.limit(options);
        },
      } as RateLimit,
    ]),
  );
  return { ...env, DB: db, KV: kv, ...limiters };
}
