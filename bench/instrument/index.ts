// The service, unchanged, behind counters: every KV call, D1 statement and WebCrypto call the
// service makes is counted, and GET /__bench/counts returns (and resets) the counts. This is how
// the bench shows *why* a route costs what it costs (e.g. a D1 read or a key import per request)
// without touching src/. Only used for counting, never for timing: the proxies cost time.
import service from '../../src/index';

type Counts = Record<string, number>;
let counts: Counts = {};
let queries: Record<string, number> = {};
const bump = (key: string, n = 1) => {
  counts[key] = (counts[key] ?? 0) + n;
};

// Sequential round trips: a storage call that starts while no other is in flight opens a new
// round trip; calls started while one is in flight (Promise.all, a batch) share it. So the count is
// the length of the request's critical path in storage calls, which is what production latency
// (D1's primary is far away, KV is near) is made of. Counted for D1 alone and for D1 + KV.
let inFlight = { all: 0, d1: 0 };
function roundTrip<T>(store: 'd1' | 'kv', call: () => Promise<T>): Promise<T> {
  if (inFlight.all++ === 0) bump('rounds.storage');
  if (store === 'd1' && inFlight.d1++ === 0) bump('rounds.d1');
  const done = () => {
    inFlight.all--;
    if (store === 'd1') inFlight.d1--;
  };
  return call().then(
    (value) => (done(), value),
    (err: unknown) => {
      done();
      throw err;
    },
  );
}

// WebCrypto: patched on the prototype, so jose, hono and the service's own code are all seen.
const subtle = Object.getPrototypeOf(crypto.subtle) as Record<string, unknown>;
for (const name of ['importKey', 'exportKey', 'sign', 'verify', 'digest', 'encrypt', 'decrypt', 'deriveBits', 'deriveKey', 'generateKey']) {
  const original = subtle[name];
  if (typeof original !== 'function') continue;
  Object.defineProperty(subtle, name, {
    configurable: true,
    writable: true,
    value: function (this: SubtleCrypto, ...args: unknown[]) {
      bump(`subtle.${name}`);
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    },
  });
}

// Storage writes, split by when they start: while a request's fetch() has not yet returned its
// Response (on the response path) or after it (waitUntil work). Bench requests are sequential, so
// a module-level count of requests in progress tells the two apart.
let responding = 0;
const WRITE_SQL = /^\s*(INSERT|UPDATE|DELETE|REPLACE)\b/i;
const bumpWrite = () => bump(responding > 0 ? 'writes.response' : 'writes.deferred');

function wrapKV(kv: KVNamespace): KVNamespace {
  return new Proxy(kv, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        bump(`kv.${String(prop)}`);
        if (prop === 'put' || prop === 'delete') bumpWrite();
        if (prop === 'get' && Array.isArray(args[0])) bump('kv.get.bulkKeys', args[0].length);
        return roundTrip('kv', () => value.apply(target, args));
      };
    },
  });
}

// D1: a statement is counted when it executes (first/all/run/raw) or when a batch runs it.
const realStatement = new WeakMap<object, D1PreparedStatement>();
const statementSql = new WeakMap<object, string>();
function wrapStatement(stmt: D1PreparedStatement, sql: string): D1PreparedStatement {
  const proxy = new Proxy(stmt, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== 'function') return value;
      if (prop === 'bind') return (...args: unknown[]) => wrapStatement(value.apply(target, args), sql);
      if (prop === 'first' || prop === 'all' || prop === 'run' || prop === 'raw') {
        return (...args: unknown[]) => {
          bump('d1.queries');
          if (WRITE_SQL.test(sql)) bumpWrite();
          queries[sql] = (queries[sql] ?? 0) + 1;
          return roundTrip('d1', () => value.apply(target, args));
        };
      }
      return value.bind(target);
    },
  });
  realStatement.set(proxy, stmt);
  statementSql.set(proxy, sql);
  return proxy;
}

function wrapD1<T extends D1Database | D1DatabaseSession>(db: T): T {
  return new Proxy(db, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== 'function') return value;
      if (prop === 'prepare') return (sql: string) => wrapStatement(value.call(target, sql), sql);
      if (prop === 'batch') {
        return (stmts: D1PreparedStatement[]) => {
          bump('d1.batches');
          bump('d1.queries', stmts.length);
          for (const s of stmts) {
            const sql = statementSql.get(s);
            if (sql) queries[sql] = (queries[sql] ?? 0) + 1;
            if (sql && WRITE_SQL.test(sql)) bumpWrite();
          }
          return roundTrip('d1', () => value.call(target, stmts.map((s) => realStatement.get(s) ?? s)));
        };
      }
      if (prop === 'exec') return (...args: unknown[]) => (bump('d1.exec'), value.apply(target, args));
      if (prop === 'withSession') return (...args: unknown[]) => wrapD1(value.apply(target, args));
      return value.bind(target);
    },
  });
}

// One wrapper per original object, so the service sees the same identities it would see
// unwrapped (it caches parsed config and key rings per env / per D1 binding object). A new
// `env` object per request would show up as env.objects growing with the request count.
const wrappedEnvs = new WeakMap<object, Record<string, unknown>>();
const wrappedBindings = new WeakMap<object, unknown>();
function wrapEnv(env: Record<string, unknown>): Record<string, unknown> {
  let wrapped = wrappedEnvs.get(env);
  if (!wrapped) {
    bump('env.objects');
    wrapped = { ...env };
    for (const [name, value] of Object.entries(env)) {
      if (!value || typeof value !== 'object') continue;
      let w = wrappedBindings.get(value);
      if (!w) {
        if (typeof (value as D1Database).prepare === 'function') w = wrapD1(value as D1Database);
        else if (typeof (value as KVNamespace).getWithMetadata === 'function') w = wrapKV(value as KVNamespace);
        else w = value;
        wrappedBindings.set(value, w);
      }
      wrapped[name] = w;
    }
    wrappedEnvs.set(env, wrapped);
  }
  return wrapped;
}

export default {
  async fetch(request: Request, env: Record<string, unknown>, ctx: ExecutionContext): Promise<Response> {
    if (new URL(request.url).pathname === '/__bench/counts') {
      const body = JSON.stringify({ counts, queries });
      counts = {};
      queries = {};
      inFlight = { all: 0, d1: 0 };
      return new Response(body, { headers: { 'content-type': 'application/json' } });
    }
    responding++;
    try {
      return await (service.fetch as (r: Request, e: unknown, c: ExecutionContext) => Promise<Response>)(request, wrapEnv(env), ctx);
    } finally {
      responding--;
    }
  },
};
