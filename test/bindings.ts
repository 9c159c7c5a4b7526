// Wrappers around the real local bindings, for what local D1 and KV do not do by themselves:
// count KV operations per request, refuse KV writes the way Cloudflare's KV does (one write per
// second per key: 429), and run a concurrent change at an exact point inside a D1 operation.
// The wrapped calls still go to the real local D1 and KV.

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
 * A D1 database that, the first time a statement (or a batch holding one) whose SQL matches
 * `when` is about to run, first awaits `interleave()`: a change made by "someone else" lands
 * exactly between what the code under test read before and that statement.
 */
export function interleavingD1(db: D1Database, when: RegExp, interleave: () => Promise<void>): { db: D1Database; fired(): boolean } {
  let fired = false;
  const sqlOf = new WeakMap<object, string>();
  const realOf = new WeakMap<object, D1PreparedStatement>();
  const maybeInterleave = async (sql: string[]) => {
    if (!fired && sql.some((s) => when.test(s))) {
      fired = true;
      await interleave();
    }
  };
  const wrapStatement = (real: D1PreparedStatement, sql: string): D1PreparedStatement => {
    const wrapper = {
      bind: (...values: unknown[]) => wrapStatement(real.bind(...values), sql),
      first: async (...a: unknown[]) => (await maybeInterleave([sql]), (real.first as (...x: unknown[]) => unknown)(...a)),
      all: async () => (await maybeInterleave([sql]), real.all()),
      run: async () => (await maybeInterleave([sql]), real.run()),
      raw: async (...a: unknown[]) => (await maybeInterleave([sql]), (real.raw as (...x: unknown[]) => unknown)(...a)),
    };
    sqlOf.set(wrapper, sql);
    realOf.set(wrapper, real);
    return wrapper as unknown as D1PreparedStatement;
  };
  const wrapped = {
    prepare: (sql: string) => wrapStatement(db.prepare(sql), sql),
    batch: async (statements: D1PreparedStatement[]) => {
      await maybeInterleave(statements.map((s) => sqlOf.get(s) ?? ''));
      return db.batch(statements.map((s) => realOf.get(s) ?? s));
    },
    exec: (sql: string) => db.exec(sql),
    withSession: (...a: unknown[]) => (db.withSession as (...x: unknown[]) => unknown)(...a),
    dump: () => (db as unknown as { dump(): unknown }).dump(),
  };
  return { db: wrapped as unknown as D1Database, fired: () => fired };
}
