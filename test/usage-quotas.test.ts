// Issue 15: quotas. Tiers come from USAGE_QUOTAS; per minute the tier's [[ratelimits]] binding
// counts (RL_QUOTA_TEST: 3 per 60 s, vitest.config.ts), per UTC day the usage counters do.
import { describe, expect, it, vi } from 'vitest';
import { Faults, faultyEnv } from './bindings';
import { meterFor } from '../src/usage/meter';
import { Client, errorOf, inOneWindow, T0, testEnv } from './helpers';
import { userWith } from './gateway-helpers';

const MINUTE = { tiers: { tight: { per_minute: 3, binding: 'RL_QUOTA_TEST' } }, default: 'tight' };
const DAY_END = T0 - (T0 % 86_400) + 86_400;

async function get(c: Client, token: string, path = '/api/private'): Promise<Response> {
  return c.request('GET', path, { token });
}

describe('quota per minute ([[ratelimits]])', () => {
  it('429 quota_exceeded with Retry-After and RateLimit-Policy / RateLimit after the tier limit; sign-in and refresh stay open', async () => {
    const c = new Client(testEnv({ USAGE_QUOTAS: MINUTE }));
    await inOneWindow(60, async () => {
      const user = await c.signedUp();
      for (let i = 0; i < 3; i++) {
        const ok = await get(c, user.access_token);
        expect(ok.status).toBe(200);
        expect(ok.headers.get('RateLimit-Policy')).toBe('"minute";q=3;w=60');
      }
      const refused = await get(c, user.access_token);
      expect(refused.status).toBe(429);
      expect((await errorOf(refused)).error).toBe('quota_exceeded');
      const retry = Number(refused.headers.get('Retry-After'));
      expect(retry).toBeGreaterThanOrEqual(1);
      expect(retry).toBeLessThanOrEqual(60);
      expect(refused.headers.get('RateLimit-Policy')).toBe('"minute";q=3;w=60');
      expect(refused.headers.get('RateLimit')).toBe(`"minute";r=0;t=${retry}`);
      // Every route under requireAuth shares the budget...
      expect((await get(c, user.access_token, '/auth/me')).status).toBe(429);
      // ...but sign-in, refresh and the token endpoint have their own throttles, never a quota.
      expect((await c.request('POST', '/auth/login', { json: { username: user.username, password: user.password } })).status).toBe(200);
      expect((await c.request('POST', '/auth/refresh', { json: { refresh_token: user.refresh_token } })).status).toBe(200);
    });
  });

  it('by role, per API key and per client: the subject entry decides first, then roles, then the default', async () => {
    const quotas = {
      tiers: { tight: { per_minute: 3, binding: 'RL_QUOTA_TEST' }, staff: {} },
      default: 'tight',
      roles: { admin: 'staff' },
      subjects: {} as Record<string, string>,
    };
    // The admin's own env with its API key pinned to the tight tier: the key needs its id first.
    const setup = new Client(testEnv());
    const admin = await userWith(setup, ['admin']);
    const created = await setup.request('POST', '/auth/api-keys', { token: admin.access_token, json: { name: 'ci' } });
    expect(created.status).toBe(201);
    const { api_key, key } = (await created.json()) as { api_key: string; key: { id: string } };
    quotas.subjects[`api_key:${key.id}`] = 'tight';
    const c = new Client(testEnv({ USAGE_QUOTAS: quotas }));
    await inOneWindow(60, async () => {
      // The admin role's tier has no limits: no headers, never refused.
      for (let i = 0; i < 5; i++) {
        const res = await get(c, admin.access_token);
        expect(res.status).toBe(200);
        expect(res.headers.get('RateLimit-Policy')).toBeNull();
      }
      // The admin's key is a subject of its own, in the tight tier.
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await c.request('GET', '/api/private', { headers: { 'X-API-Key': api_key } })).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      expect((await get(c, admin.access_token)).status).toBe(200);
    });
  });

  it('a client under the default tier is counted per client', async () => {
    const c = new Client(testEnv({ USAGE_QUOTAS: { tiers: { tight: { per_minute: 3, binding: 'RL_QUOTA_TEST' }, staff: {} }, default: 'tight', roles: { admin: 'staff' } } }));
    const admin = await userWith(c, ['admin']);
    const made = await c.request('POST', '/admin/clients', { token: admin.access_token, json: { name: 'partner', roles: ['reports'] } });
    const { client, client_secret } = (await made.json()) as { client: { client_id: string }; client_secret: string };
    const tokenRes = await c.request('POST', '/oauth/token', {
      body: 'grant_type=client_credentials',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${btoa(`${client.client_id}:${client_secret}`)}` },
    });
    expect(tokenRes.status).toBe(200);
    const { access_token } = (await tokenRes.json()) as { access_token: string };
    await inOneWindow(60, async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await get(c, access_token)).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
    });
  });
});

describe('quota per day (usage counters)', () => {
  it('refuses after per_day requests until the next UTC day, with the headers', async () => {
    const c = new Client(testEnv({ USAGE_QUOTAS: { tiers: { daily: { per_day: 5 } }, default: 'daily' }, USAGE_FLUSH_EVENTS: '2' }));
    const user = await c.signedUp();
    const remaining: (string | null)[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await get(c, user.access_token);
      expect(res.status).toBe(200);
      expect(res.headers.get('RateLimit-Policy')).toBe('"day";q=5;w=86400');
      remaining.push(res.headers.get('RateLimit'));
    }
    const t = DAY_END - T0;
    expect(remaining).toEqual([4, 3, 2, 1, 0].map((r) => `"day";r=${r};t=${t}`));
    const refused = await get(c, user.access_token);
    expect(refused.status).toBe(429);
    expect((await errorOf(refused)).error).toBe('quota_exceeded');
    expect(refused.headers.get('Retry-After')).toBe(String(t));
    expect(refused.headers.get('RateLimit')).toBe(`"day";r=0;t=${t}`);
    // A new UTC day starts from zero.
    c.clock.advance(t);
    const next = await c.login(user.username, user.password);
    const res = await get(c, next.access_token);
    expect(res.status).toBe(200);
    expect(res.headers.get('RateLimit')).toBe('"day";r=4;t=86400');
  });

  it("counts other isolates' flushed requests once its read is older than USAGE_FLUSH_SECONDS (the stated approximation)", async () => {
    const c = new Client(testEnv({ USAGE_QUOTAS: { tiers: { daily: { per_day: 10 } }, default: 'daily' }, USAGE_FLUSH_SECONDS: '5' }));
    const user = await c.signedUp();
    expect((await get(c, user.access_token)).headers.get('RateLimit')).toMatch(/^"day";r=9;/);
    // Another isolate flushes 8 requests of the same user today.
    await c.env.DB.prepare(
      'INSERT INTO usage_counters (subject_type, subject_id, route, hour, requests, status_2xx) VALUES (?, ?, ?, ?, 8, 8)',
    ).bind('user', user.id, 'GET /api/private', T0 - (T0 % 3600)).run();
    // Within the re-read interval this isolate does not see them yet...
    expect((await get(c, user.access_token)).headers.get('RateLimit')).toMatch(/^"day";r=8;/);
    // ...after it, it does: D1's 8 plus this isolate's 2 not yet flushed make 10, the quota.
    c.clock.advance(5);
    expect(meterFor(c.env, c.config).pendingRequests).toBe(2);
    const refused = await get(c, user.access_token);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('RateLimit')).toMatch(/^"day";r=0;t=\d+$/);
  });
});

describe('quotas when storage fails', () => {
  it('a failing D1 read of the daily count lets the request through (logged), never a 503', async () => {
    const faults = new Faults();
    const c = new Client(faultyEnv(testEnv({ USAGE_QUOTAS: { tiers: { daily: { per_day: 5 } }, default: 'daily' } }), faults));
    const user = await c.signedUp();
    const warn = vi.spyOn(console, 'warn');
    try {
      faults.d1 = 'error';
      const res = await get(c, user.access_token);
      expect(res.status).toBe(200);
      expect(res.headers.get('RateLimit')).toBe(`"day";r=4;t=${DAY_END - T0}`);
      expect(warn.mock.calls.some(([line]) => String(line).includes('"event":"usage.quota_unavailable"'))).toBe(true);
    } finally {
      faults.heal();
      warn.mockRestore();
    }
  });

  it('a limiter that fails lets the request through (as the sign-in throttles do)', async () => {
    const faults = new Faults();
    const c = new Client(faultyEnv(testEnv({ USAGE_QUOTAS: MINUTE }), faults));
    const user = await c.signedUp();
    faults.rateLimit = 'error';
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await get(c, user.access_token)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    faults.heal();
  });
});

describe('USAGE_QUOTAS is configuration', () => {
  it('a bad value answers 500 misconfigured naming it, on every request', async () => {
    const cases: [unknown, string, ('on' | 'off')?][] = [
      ['{not json', 'USAGE_QUOTAS'],
      [{ tiers: { gold: { per_minute: 10, binding: 'RL_NOT_BOUND' } } }, 'USAGE_QUOTAS.tiers.gold.binding'],
      [{ tiers: { gold: { per_minute: 10 } } }, 'USAGE_QUOTAS.tiers.gold'],
      [{ tiers: { gold: { per_day: -1 } } }, 'USAGE_QUOTAS.tiers.gold.per_day'],
      [{ tiers: {}, default: 'missing' }, 'USAGE_QUOTAS.default'],
      [{ tiers: { a: {} }, roles: { admin: 'b' } }, 'USAGE_QUOTAS.roles.admin'],
      [{ tiers: { a: {} }, subjects: { 'root:x': 'a' } }, 'USAGE_QUOTAS.subjects.root:x'],
      [{ tier: {} }, 'USAGE_QUOTAS'],
      [{ tiers: { a: { per_day: 5 } } }, 'USAGE_QUOTAS', 'off'], // per_day is counted by the meter
      [{}, 'USAGE_METERING', 'sometimes' as 'on'],
    ];
    for (const [value, setting, metering] of cases) {
      const c = new Client(testEnv({ USAGE_QUOTAS: value, USAGE_METERING: metering ?? 'on' }));
      const res = await c.request('GET', '/health');
      expect(res.status, setting).toBe(500);
      const body = await errorOf(res);
      expect(body.error).toBe('misconfigured');
      expect(body.message, setting).toContain(`${setting}:`);
    }
  });
});
