// Issue 15: usage metering and the read API. Counting happens in the app middleware into a
// per-isolate meter (src/usage/meter.ts), flushed in batched upserts; these tests flush it
// explicitly where they need every count in D1 (`flushed`), and otherwise let the flush rules act.
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { runCleanup } from '../src/services/cleanup';
import { meterFor } from '../src/usage/meter';
import { instrumentedKv } from './bindings';
import { Client, errorOf, T0, testEnv, type TokenBody } from './helpers';
import { ROUTES, userWith } from './gateway-helpers';

async function flushed(c: Client): Promise<void> {
  await meterFor(c.env, c.config).flush();
}

interface OwnUsage {
  subject: { type: string; id: string };
  granularity: string;
  from: string;
  to: string;
  totals: { requests: number; bytes_in: number; bytes_out: number };
  buckets: { start: string; route: string; requests: number; status: Record<string, number>; bytes_in: number; bytes_out: number }[];
}

async function ownUsage(c: Client, token: string, query = ''): Promise<OwnUsage> {
  const res = await c.request('GET', `/auth/usage${query}`, { token });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as OwnUsage;
}

async function adminOf(c: Client): Promise<TokenBody & { id: string }> {
  return userWith(c, ['admin']);
}

interface AdminRow {
  subject: { type: string; id: string };
  route: string;
  start: string;
  requests: number;
  status: Record<string, number>;
  bytes_in: number;
  bytes_out: number;
}

async function adminUsage(c: Client, token: string, query: string): Promise<{ rows: AdminRow[]; next_cursor: string | null }> {
  const res = await c.request('GET', `/admin/usage${query}`, { token });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { rows: AdminRow[]; next_cursor: string | null };
}

async function clientToken(c: Client, admin: TokenBody): Promise<{ id: string; token: string }> {
  const created = await c.request('POST', '/admin/clients', { token: admin.access_token, json: { name: 'partner', roles: ['reports'] } });
  expect(created.status).toBe(201);
  const { client, client_secret } = (await created.json()) as { client: { client_id: string }; client_secret: string };
  const res = await c.request('POST', '/oauth/token', {
    body: 'grant_type=client_credentials',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${btoa(`${client.client_id}:${client_secret}`)}` },
  });
  expect(res.status).toBe(200);
  return { id: client.client_id, token: ((await res.json()) as { access_token: string }).access_token };
}

const HOUR_ISO = new Date(T0 * 1000 - ((T0 * 1000) % 3_600_000)).toISOString().replace('.000Z', 'Z');

describe('counting', () => {
  it('counts exact after N requests across several flushes and concurrent requests', async () => {
    const c = new Client(testEnv({ USAGE_FLUSH_EVENTS: '5', USAGE_FLUSH_SECONDS: '60' }));
    const user = await c.signedUp();
    for (let i = 0; i < 12; i++) expect((await c.request('GET', '/api/private', { token: user.access_token })).status).toBe(200);
    await Promise.all(Array.from({ length: 9 }, () => c.request('GET', '/api/private', { token: user.access_token })));
    // 21 counted: the sequential ones flushed at the 5th and 10th, the concurrent ones as their
    // flushes (a macrotask after each due response) found them; what is left is pending.
    const pending = meterFor(c.env, c.config).pendingRequests;
    expect(pending).toBeLessThan(5);
    expect(await countRows(c.env.DB, user.id)).toBe(21 - pending);
    await flushed(c);
    const usage = await ownUsage(c, user.access_token);
    expect(usage.subject).toEqual({ type: 'user', id: user.id });
    expect(usage.granularity).toBe('hour');
    expect(usage.buckets).toEqual([
      { start: HOUR_ISO, route: 'GET /api/private', requests: 21, status: { '2xx': 21, '3xx': 0, '4xx': 0, '5xx': 0 }, bytes_in: 0, bytes_out: 0 },
    ]);
    expect(usage.totals).toEqual({ requests: 21, bytes_in: 0, bytes_out: 0 });
  });
});

describe('what is counted, and as whom', () => {
  it('per route pattern, never the raw path; refusals before a route and anonymous requests are not counted', async () => {
    const c = new Client(testEnv());
    const user = await c.signedUp();
    const other = await c.login(user.username, user.password);
    const sessions = (await (await c.request('GET', '/auth/sessions', { token: user.access_token })).json()) as { sessions: { id: string }[] };
    const otherId = sessions.sessions.find((s) => s.id !== undefined && s.id !== JSON.parse(atob(user.access_token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))).sid)!.id;
    expect((await c.request('DELETE', `/auth/sessions/${otherId}`, { token: user.access_token })).status).toBe(204);
    expect((await c.request('DELETE', '/auth/sessions/00000000-0000-4000-8000-000000000000', { token: user.access_token })).status).toBe(404);
    expect((await c.request('GET', '/api/private')).status).toBe(401); // anonymous: nobody to count
    expect((await c.request('GET', '/api/admin', { token: user.access_token })).status).toBe(403); // refused by requireAuth: no subject set
    expect((await c.request('GET', '/auth/nowhere', { token: user.access_token })).status).toBe(404); // no route
    expect(other.access_token).not.toBe(user.access_token);
    await flushed(c);
    const usage = await ownUsage(c, user.access_token);
    expect(usage.buckets.map((b) => [b.route, b.requests, b.status['2xx'], b.status['4xx']])).toEqual([
      ['DELETE /auth/sessions/:id', 2, 1, 1],
      ['GET /auth/sessions', 1, 1, 0],
    ]);
  });

  it('API keys and clients are counted as themselves, not as their owner', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    const created = await c.request('POST', '/auth/api-keys', { token: admin.access_token, json: { name: 'ci' } });
    expect(created.status).toBe(201);
    const { api_key, key } = (await created.json()) as { api_key: string; key: { id: string } };
    for (let i = 0; i < 3; i++) expect((await c.request('GET', '/api/private', { headers: { 'X-API-Key': api_key } })).status).toBe(200);
    const client = await clientToken(c, admin);
    for (let i = 0; i < 2; i++) expect((await c.request('GET', '/api/private', { token: client.token })).status).toBe(200);
    await flushed(c);

    const adminOwn = await ownUsage(c, admin.access_token);
    expect(adminOwn.buckets.map((b) => b.route)).toEqual(['POST /admin/clients', 'POST /auth/api-keys']);
    const keyOwn = (await (await c.request('GET', '/auth/usage', { headers: { 'X-API-Key': api_key } })).json()) as OwnUsage;
    expect(keyOwn.subject).toEqual({ type: 'api_key', id: key.id });
    expect(keyOwn.buckets.map((b) => [b.route, b.requests])).toEqual([['GET /api/private', 3]]);
    const clientOwn = await ownUsage(c, client.token);
    expect(clientOwn.subject).toEqual({ type: 'client', id: client.id });
    expect(clientOwn.buckets.map((b) => [b.route, b.requests])).toEqual([['GET /api/private', 2]]);

    await flushed(c);
    const rows = (await adminUsage(c, admin.access_token, `?subject=api_key:${key.id}`)).rows;
    expect(rows.map((r) => [r.subject, r.route, r.requests])).toEqual([
      [{ type: 'api_key', id: key.id }, 'GET /api/private', 3],
      [{ type: 'api_key', id: key.id }, 'GET /auth/usage', 1],
    ]);
  });
});

describe('GET /admin/usage', () => {
  it('filters, pages with a cursor, sums by day, and exports CSV', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    const user = await c.signedUp();
    for (let hour = 0; hour < 3; hour++) {
      // Access tokens live 15 minutes: each hour signs in again.
      const { access_token } = await c.login(user.username, user.password);
      for (let i = 0; i <= hour; i++) expect((await c.request('GET', '/api/private', { token: access_token })).status).toBe(200);
      c.clock.advance(3600);
    }
    const fresh = await c.login(user.username, user.password);
    expect((await c.request('GET', '/auth/sessions', { token: fresh.access_token })).status).toBe(200);
    const adminNow = await c.login(admin.user.username, 'correct horse battery');
    await flushed(c);

    const filter = `?subject=user:${user.id}&from=${new Date((T0 - 3600) * 1000).toISOString()}&to=${new Date((T0 + 4 * 3600) * 1000).toISOString()}`;
    const all = await adminUsage(c, adminNow.access_token, filter);
    expect(all.rows.map((r) => [r.start, r.route, r.requests])).toEqual([
      [HOUR_ISO, 'GET /api/private', 1],
      [new Date((T0 + 3600) * 1000).toISOString().replace('.000Z', 'Z'), 'GET /api/private', 2],
      [new Date((T0 + 7200) * 1000).toISOString().replace('.000Z', 'Z'), 'GET /api/private', 3],
      [new Date((T0 + 10800) * 1000).toISOString().replace('.000Z', 'Z'), 'GET /auth/sessions', 1],
    ]);
    expect(all.next_cursor).toBeNull();

    const paged: AdminRow[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const page: { rows: AdminRow[]; next_cursor: string | null } = await adminUsage(c, adminNow.access_token, `${filter}&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      paged.push(...page.rows);
      cursor = page.next_cursor;
    }
    expect(paged).toEqual(all.rows);

    const byRoute = await adminUsage(c, adminNow.access_token, `${filter}&route=${encodeURIComponent('GET /auth/sessions')}`);
    expect(byRoute.rows.map((r) => r.requests)).toEqual([1]);
    const byDay = await adminUsage(c, adminNow.access_token, `${filter}&granularity=day`);
    expect(byDay.rows.map((r) => [r.route, r.requests])).toEqual([
      ['GET /api/private', 6],
      ['GET /auth/sessions', 1],
    ]);

    const csv = await c.request('GET', `/admin/usage${filter}&limit=2`, { token: adminNow.access_token, headers: { Accept: 'text/csv' } });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('Content-Type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('X-Next-Cursor')).toMatch(/.+/);
    expect((await csv.text()).split('\r\n')).toEqual([
      'subject_type,subject_id,route,start,requests,status_2xx,status_3xx,status_4xx,status_5xx,bytes_in,bytes_out',
      `user,${user.id},GET /api/private,${HOUR_ISO},1,1,0,0,0,0,0`,
      `user,${user.id},GET /api/private,${new Date((T0 + 3600) * 1000).toISOString().replace('.000Z', 'Z')},2,2,0,0,0,0,0`,
      '',
    ]);
    const csv2 = await c.request('GET', `/admin/usage${filter}&format=csv&granularity=day`, { token: adminNow.access_token });
    expect((await csv2.text()).split('\r\n')).toHaveLength(4);
  });

  it('is for administrators only', async () => {
    const c = new Client(testEnv());
    const user = await c.signedUp();
    expect((await c.request('GET', '/admin/usage', { token: user.access_token })).status).toBe(403);
    expect((await c.request('GET', '/admin/usage')).status).toBe(401);
    expect((await c.request('GET', '/auth/usage')).status).toBe(401);
  });

  it('bad parameters are 400 invalid_request', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    const bad = [
      '/auth/usage?from=yesterday',
      '/auth/usage?from=2026-13-45T00:00:00Z',
      '/auth/usage?granularity=week',
      '/auth/usage?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z',
      '/auth/usage?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z', // more than 31 days of hours
      '/auth/usage?from=2025-01-01&to=2026-03-01&granularity=day', // more than 366 days
      '/auth/usage?from=2026-12-01T00:00:00Z&from=2026-12-01T00:00:00Z',
      '/auth/usage?subject=user:x',
      '/admin/usage?subject=root:x',
      '/admin/usage?subject=user:',
      '/admin/usage?route=private',
      '/admin/usage?limit=0',
      '/admin/usage?limit=501',
      '/admin/usage?cursor=bm9wZQ',
      '/admin/usage?format=xml',
    ];
    for (const path of bad) {
      const res = await c.request('GET', path, { token: admin.access_token });
      expect(res.status, path).toBe(400);
      expect((await errorOf(res)).error, path).toBe('invalid_request');
    }
    // A cursor made for hours is refused for days.
    const user = await c.signedUp();
    for (let i = 0; i < 2; i++) await c.request('GET', '/api/private', { token: user.access_token });
    await flushed(c);
    const page = await adminUsage(c, admin.access_token, '?limit=1');
    expect(page.next_cursor).not.toBeNull();
    const res = await c.request('GET', `/admin/usage?limit=1&granularity=day&cursor=${page.next_cursor}`, { token: admin.access_token });
    expect(res.status).toBe(400);
  });
});

/** D1 whose batches (the meter's only write) wait for `release()`, and counts of every write issued. */
function gatedD1(db: D1Database) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const stats = { batches: 0, writes: 0 };
  const WRITE = /^\s*(INSERT|UPDATE|DELETE|REPLACE)\b/i;
  const wrapped = new Proxy(db, {
    get(target, prop) {
      if (prop === 'batch') {
        return async (statements: D1PreparedStatement[]) => {
          stats.batches++;
          await gate;
          return target.batch(statements);
        };
      }
      if (prop === 'prepare') {
        return (sql: string) => {
          if (WRITE.test(sql)) stats.writes++;
          return target.prepare(sql);
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { db: wrapped, stats, release: () => open() };
}

describe('off the hot path', () => {
  it('no D1 or KV write on the response path: the response is sent while the due flush still waits on D1', async () => {
    const base = testEnv({ USAGE_FLUSH_EVENTS: '1' });
    const setup = new Client(base);
    const user = await setup.signedUp();
    const gated = gatedD1(base.DB);
    const kv = instrumentedKv(base.KV);
    const e = { ...base, DB: gated.db, KV: kv.kv };
    const app = new Client(e).app;
    const ctx = createExecutionContext();
    const headers = { Authorization: `Bearer ${user.access_token}` };
    // Every request makes a flush due (USAGE_FLUSH_EVENTS=1); D1 is held shut meanwhile.
    for (let i = 0; i < 3; i++) {
      const res = await app.fetch(new Request('http://localhost/api/private', { headers }), e, ctx);
      expect(res.status).toBe(200);
      // The response is out before its flush has even started.
      expect(gated.stats.batches).toBe(i);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // Three responses delivered, three flushes started under waitUntil, none finished; no other write at all.
    expect(gated.stats.batches).toBe(3);
    expect(gated.stats.writes).toBe(3); // the flushes' upsert statements, prepared inside waitUntil
    expect(kv.stats.puts + kv.stats.deletes).toBe(0);
    expect(await countRows(base.DB, user.id)).toBe(0);
    gated.release();
    await waitOnExecutionContext(ctx);
    expect(await countRows(base.DB, user.id)).toBe(3);
  });

  it('with metering off nothing is counted and nothing is written', async () => {
    const base = testEnv({ USAGE_METERING: 'off', USAGE_FLUSH_EVENTS: '1' });
    const c = new Client(base);
    const user = await c.signedUp();
    for (let i = 0; i < 3; i++) expect((await c.request('GET', '/api/private', { token: user.access_token })).status).toBe(200);
    expect(meterFor(c.env, c.config).pendingRequests).toBe(0);
    expect(await countRows(base.DB, user.id)).toBe(0);
  });

  it('one Analytics Engine data point per counted request, when the binding is configured', async () => {
    const points: { indexes?: string[]; blobs?: string[]; doubles?: number[] }[] = [];
    const e = { ...testEnv(), USAGE_ANALYTICS: { writeDataPoint: (p: (typeof points)[number]) => void points.push(p) } };
    const c = new Client(e);
    const user = await c.signedUp();
    expect(points).toHaveLength(0); // register and login have no subject
    expect((await c.request('GET', '/api/private', { token: user.access_token })).status).toBe(200);
    expect((await c.request('GET', '/api/admin', { token: user.access_token })).status).toBe(403);
    expect(points).toEqual([{ indexes: [`user:${user.id}`], blobs: ['user', user.id, 'GET /api/private'], doubles: [200, 0, 0] }]);
  });
});

async function countRows(db: D1Database, subjectId: string): Promise<number> {
  const row = await db.prepare('SELECT COALESCE(SUM(requests), 0) AS n FROM usage_counters WHERE subject_id = ?').bind(subjectId).first<{ n: number }>();
  return row!.n;
}

describe('loss bound', () => {
  it('an isolate evicted between flushes loses fewer than USAGE_FLUSH_EVENTS requests, all from its last USAGE_FLUSH_SECONDS', async () => {
    const N = 10;
    const c = new Client(testEnv({ USAGE_FLUSH_EVENTS: String(N), USAGE_FLUSH_SECONDS: '5' }));
    const user = await c.signedUp();
    const meter = meterFor(c.env, c.config);
    let worst = 0;
    // Eviction at every point of three flush cycles: what D1 holds is what survives.
    for (let sent = 1; sent <= 3 * N; sent++) {
      expect((await c.request('GET', '/api/private', { token: user.access_token })).status).toBe(200);
      const lost = sent - (await countRows(c.env.DB, user.id));
      expect(lost).toBe(meter.pendingRequests);
      worst = Math.max(worst, lost);
    }
    expect(worst).toBe(N - 1);
    // Time bound: a request USAGE_FLUSH_SECONDS after the oldest pending one flushes everything.
    await meter.flush();
    const before = await countRows(c.env.DB, user.id);
    expect((await c.request('GET', '/api/private', { token: user.access_token })).status).toBe(200);
    c.clock.advance(4);
    expect((await c.request('GET', '/api/private', { token: user.access_token })).status).toBe(200);
    expect(meter.pendingRequests).toBe(2);
    c.clock.advance(1);
    expect((await c.request('GET', '/api/private', { token: user.access_token })).status).toBe(200);
    expect(meter.pendingRequests).toBe(0);
    expect(await countRows(c.env.DB, user.id)).toBe(before + 3);
  });

  it('a failed flush keeps its counts for the next one', async () => {
    const base = testEnv({ USAGE_FLUSH_EVENTS: '2' });
    const setup = new Client(base);
    const user = await setup.signedUp();
    let fail = true;
    const db = new Proxy(base.DB, {
      get(target, prop) {
        if (prop === 'batch') return async (s: D1PreparedStatement[]) => (fail ? Promise.reject(new Error('D1_ERROR: Network connection lost.')) : target.batch(s));
        const value = Reflect.get(target, prop);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const c = new Client({ ...base, DB: db });
    for (let i = 0; i < 2; i++) expect((await c.request('GET', '/api/private', { token: user.access_token })).status).toBe(200);
    expect(meterFor(c.env, c.config).pendingRequests).toBe(2);
    fail = false;
    // The next due flush (the third request) carries the failed one's two.
    for (let i = 0; i < 2; i++) expect((await c.request('GET', '/api/private', { token: user.access_token })).status).toBe(200);
    expect(await countRows(base.DB, user.id)).toBe(3);
    await flushed(c);
    expect(await countRows(base.DB, user.id)).toBe(4);
  });
});

describe('gateway routes', () => {
  it('counted under the table entry with bytes in and out, the response streamed and counted as it passes', async () => {
    const c = new Client(testEnv({ GATEWAY_ROUTES: ROUTES }));
    const user = await c.signedUp();
    const body = 'x'.repeat(1000);
    const res = await c.request('POST', '/svc/items/42', { token: user.access_token, body, headers: { 'Content-Type': 'text/plain' } });
    expect(res.status).toBe(200);
    const text = await res.text();
    const got = await c.request('GET', '/svc/items/43', { token: user.access_token });
    const text2 = await got.text();
    await flushed(c);
    const usage = await ownUsage(c, user.access_token);
    expect(usage.buckets.map((b) => [b.route, b.requests, b.bytes_in, b.bytes_out])).toEqual([
      ['GET /svc/*', 1, 0, new TextEncoder().encode(text2).byteLength],
      ['POST /svc/*', 1, 1000, new TextEncoder().encode(text).byteLength],
    ]);
    expect(usage.totals.bytes_in).toBe(1000);
  });
});

describe('gateway routes, streamed', () => {
  it('a response without Content-Length is counted as it streams and recorded when it ends; the first chunk is not held back', async () => {
    const c = new Client(testEnv({ GATEWAY_ROUTES: ROUTES }));
    const user = await c.signedUp();
    const meter = meterFor(c.env, c.config);
    const before = meter.pendingRequests;
    const app = c.app;
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request('http://localhost/svc/stream', { headers: { Authorization: `Bearer ${user.access_token}` } }), c.env, ctx);
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Length')).toBeNull();
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('data: one\n\n');
    expect(meter.pendingRequests).toBe(before); // not recorded while the stream runs
    let rest = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += new TextDecoder().decode(chunk.value);
    expect(rest).toBe('data: two\n\n');
    await waitOnExecutionContext(ctx);
    await flushed(c);
    const usage = await ownUsage(c, user.access_token);
    expect(usage.buckets.map((b) => [b.route, b.requests, b.bytes_out])).toEqual([['GET /svc/*', 1, 22]]);
  });
});

describe('retention', () => {
  it('the scheduled clean-up deletes hours older than USAGE_RETENTION_DAYS', async () => {
    const e = testEnv({ USAGE_RETENTION_DAYS: '7' });
    const c = new Client(e);
    const id = crypto.randomUUID();
    const hour = T0 - (T0 % 3600);
    const insert = (h: number) =>
      e.DB.prepare("INSERT INTO usage_counters (subject_type, subject_id, route, hour, requests) VALUES ('user', ?, 'GET /api/private', ?, 1)").bind(id, h).run();
    const ages = [0, 6 * 86_400, 7 * 86_400, 7 * 86_400 + 3600, 7 * 86_400 + 7200, 30 * 86_400];
    for (const age of ages) await insert(hour - age);
    const result = await runCleanup(e.DB, c.config, T0);
    expect(result.usage).toBe(2);
    const left = await e.DB.prepare('SELECT hour FROM usage_counters WHERE subject_id = ? ORDER BY hour DESC').bind(id).all<{ hour: number }>();
    expect(left.results.map((r) => (hour - r.hour) / 3600)).toEqual([0, 6 * 24, 7 * 24, 7 * 24 + 1]);
  });
});
