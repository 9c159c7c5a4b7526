// Platform faults (docs/resilience.md): each policy there is a test here. D1, KV and the rate
// limiters are wrapped (test/bindings.ts faultyEnv) so that they fail, slow down or refuse on
// command while the code under test runs unchanged against the real local stores.
import { env } from 'cloudflare:workers';
import { drizzle } from 'drizzle-orm/d1';
import { eq } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sessions, users } from '../src/db/schema';
import { RETRY_AFTER_SECONDS } from '../src/lib/platform-fault';
import { verifyToken } from '../src/rpc';
import { CACHE_TTL_SECONDS, RELOAD_DEADLINE_MS, RELOAD_INTERVAL_SECONDS, STALE_KEYS_SECONDS } from '../src/tokens/keys';
import { REVOCATION_CACHE_SECONDS } from '../src/tokens/revocation';
import { faultyEnv, Faults } from './bindings';
import { Client, errorOf, testEnv, type TokenBody } from './helpers';

type Line = Record<string, unknown> & { event: string; level: string };
let lines: string[] = [];
beforeEach(() => {
  lines = [];
  for (const method of ['log', 'warn', 'error'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(' '));
    });
  }
});
afterEach(() => {
  vi.restoreAllMocks();
});
const logged = (event: string): Line[] =>
  lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as Line];
    } catch {
      return [];
    }
  }).filter((l) => l.event === event);

/** A client whose stores obey `faults` (all healthy until the test says otherwise). */
function faulty(overrides: Parameters<typeof testEnv>[0] = {}): { c: Client; faults: Faults } {
  const faults = new Faults();
  return { c: new Client(faultyEnv(testEnv(overrides), faults)), faults };
}

/**
 * A client as another isolate would be: its own binding objects, so its own revocation, API-key
 * and key-ring caches (all are kept per binding), under the same faults and the same stores.
 */
function anotherIsolate(c: Client, faults: Faults): Client {
  return new Client(faultyEnv(testEnv(), faults), c.clock);
}

/** The 503 contract: code, Retry-After, request id, and exactly one structured log line. */
async function expectUnavailable(res: Response, store: 'd1' | 'kv'): Promise<void> {
  expect(res.status).toBe(503);
  expect((await errorOf(res)).error).toBe('temporarily_unavailable');
  expect(res.headers.get('Retry-After')).toBe(String(RETRY_AFTER_SECONDS));
  const requestId = res.headers.get('X-Request-Id');
  expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
  const mine = logged('platform.unavailable').filter((l) => l.requestId === requestId);
  expect(mine).toHaveLength(1);
  expect(mine[0]).toMatchObject({ level: 'error', code: 'temporarily_unavailable', store });
  // Nothing from the failing statement's parameters (hashes, tokens) reaches the line.
  expect(JSON.stringify(mine[0])).not.toMatch(/\$argon2|refresh_token/);
}

const PASSWORD = 'correct horse battery';

async function sessionRows(userId: string) {
  return drizzle(env.DB).select().from(sessions).where(eq(sessions.userId, userId)).all();
}

describe('D1 erroring', () => {
  it('login: 503 with Retry-After and the request id, no session left behind; works once D1 is back', async () => {
    const { c, faults } = faulty();
    const u = await c.register();
    faults.d1 = 'error';
    faults.d1When = /insert into "?sessions/i;
    await expectUnavailable(await c.request('POST', '/auth/login', { json: { username: u.username, password: PASSWORD } }), 'd1');
    expect(faults.hits.d1).toBe(1);
    expect(await sessionRows(u.id)).toHaveLength(0); // as if not started
    faults.heal();
    expect((await c.request('POST', '/auth/login', { json: { username: u.username, password: PASSWORD } })).status).toBe(200);
  });

  it('every D1 statement failing: register, login, refresh, logout, /auth/me answer 503, never 500', async () => {
    const { c, faults } = faulty();
    const u = await c.signedUp();
    faults.d1 = 'error';
    const calls: [string, string, object][] = [
      ['POST', '/auth/register', { json: { username: 'someone_new_' + u.id.slice(0, 6), password: PASSWORD } }],
      ['POST', '/auth/login', { json: { username: u.username, password: PASSWORD } }],
      ['POST', '/auth/refresh', { json: { refresh_token: u.refresh_token } }],
      ['POST', '/auth/logout-all', { token: u.access_token }],
      ['GET', '/auth/sessions', { token: u.access_token }],
    ];
    for (const [method, path, options] of calls) await expectUnavailable(await c.request(method, path, options), 'd1');
    faults.heal();
    // Nothing happened: the refresh token still rotates, the access token still works.
    expect((await c.request('GET', '/auth/me', { token: u.access_token })).status).toBe(200);
    expect((await c.request('POST', '/auth/refresh', { json: { refresh_token: u.refresh_token } })).status).toBe(200);
  });

  it('refresh: a rotation that failed leaves the token usable; one that landed before the fault is repaired by the retry', async () => {
    const { c, faults } = faulty();
    const u = await c.signedUp();
    faults.d1 = 'error';
    faults.d1When = /update "?sessions/i;
    await expectUnavailable(await c.request('POST', '/auth/refresh', { json: { refresh_token: u.refresh_token } }), 'd1');
    faults.heal();

    // The rotation commits, but its reply is lost (the connection drops after D1 answered): the
    // client never saw the successor.
    faults.d1 = 'error';
    faults.d1When = /update "?sessions/i;
    faults.d1LostReply = true;
    await expectUnavailable(await c.request('POST', '/auth/refresh', { json: { refresh_token: u.refresh_token } }), 'd1');
    faults.heal();
    expect((await sessionRows(u.id))[0]!.rotatedAt).not.toBeNull(); // it did land
    // Retried within Retry-After (< REFRESH_REUSE_GRACE): the same successor, not reuse detection.
    c.clock.advance(RETRY_AFTER_SECONDS);
    const retry = await c.request('POST', '/auth/refresh', { json: { refresh_token: u.refresh_token } });
    expect(retry.status).toBe(200);
    const next = (await retry.json()) as TokenBody;
    expect((await c.request('POST', '/auth/refresh', { json: { refresh_token: next.refresh_token } })).status).toBe(200);
    expect((await sessionRows(u.id)).every((s) => s.revokedAt === null)).toBe(true);
  });

  it('logout: 503 and the session still live (as if not started); the retry ends it', async () => {
    const { c, faults } = faulty();
    const u = await c.signedUp();
    faults.d1 = 'error';
    faults.d1When = /update "?sessions/i;
    await expectUnavailable(await c.request('POST', '/auth/logout', { token: u.access_token }), 'd1');
    expect((await sessionRows(u.id))[0]!.revokedAt).toBeNull();
    faults.heal();
    expect((await c.request('GET', '/auth/me', { token: u.access_token })).status).toBe(200);
    expect((await c.request('POST', '/auth/logout', { token: u.access_token })).status).toBe(204);
    expect((await c.request('GET', '/auth/me', { token: u.access_token })).status).toBe(401);
  });

  it('password change: the new hash and the end of the other sessions land together or not at all', async () => {
    const { c, faults } = faulty();
    const u = await c.signedUp();
    const other = await c.login(u.username, u.password);
    faults.d1 = 'error';
    faults.d1When = /update "?sessions/i; // the batch holding both updates
    const change = { current_password: PASSWORD, new_password: 'a brand new password' };
    await expectUnavailable(await c.request('POST', '/auth/password', { token: u.access_token, json: change }), 'd1');
    faults.heal();
    // As if not started: the old password still signs in, the other session still refreshes.
    expect((await c.request('POST', '/auth/refresh', { json: { refresh_token: other.refresh_token } })).status).toBe(200);
    expect((await c.request('POST', '/auth/password', { token: u.access_token, json: change })).status).toBe(204);
  });

  it('admin demotion: 503 and the roles unchanged (one batch); the retry demotes', async () => {
    const { c, faults } = faulty();
    const boss = await c.register();
    await drizzle(env.DB).update(users).set({ roles: '["admin"]' }).where(eq(users.id, boss.id)).run();
    const bossTokens = await c.login(boss.username, boss.password);
    const target = await c.register();
    await drizzle(env.DB).update(users).set({ roles: '["admin"]' }).where(eq(users.id, target.id)).run();
    faults.d1 = 'error';
    faults.d1When = /update "?users/i;
    const res = await c.request('PATCH', `/admin/users/${target.id}`, { token: bossTokens.access_token, json: { roles: [] } });
    await expectUnavailable(res, 'd1');
    const [row] = await drizzle(env.DB).select().from(users).where(eq(users.id, target.id)).all();
    expect(row!.roles).toBe('["admin"]');
    faults.heal();
    expect((await c.request('PATCH', `/admin/users/${target.id}`, { token: bossTokens.access_token, json: { roles: [] } })).status).toBe(200);
  });

  it('RPC verify answers temporarily_unavailable, not internal_error, when both stores fail', async () => {
    const faults = new Faults();
    const fenv = faultyEnv(testEnv(), faults);
    const c = new Client(fenv);
    const u = await c.signedUp();
    faults.kvRead = 'error';
    faults.d1 = 'error';
    const result = await verifyToken(fenv, u.access_token, c.clock.seconds + REVOCATION_CACHE_SECONDS + 1);
    expect(result).toMatchObject({ ok: false, error: 'temporarily_unavailable' });
  });
});

describe('D1 down: the key ring serves its last good keys for STALE_KEYS_SECONDS', () => {
  it('protected requests and the JWKS keep working past the reload, with bounded retries, then 503', async () => {
    // The usage meter's flushes (a D1 write every USAGE_FLUSH_SECONDS) would add to the D1 calls
    // counted below: held back for the length of the test, so the count is the key ring's alone.
    const { c, faults } = faulty({ USAGE_FLUSH_SECONDS: '60' });
    const u = await c.signedUp();
    const jwks = await (await c.request('GET', '/.well-known/jwks.json')).json();
    faults.d1 = 'error';
    faults.kvRead = 'ok';
    c.clock.advance(CACHE_TTL_SECONDS + 1); // the ring's reload is due: it fails
    expect((await c.request('GET', '/api/private', { token: u.access_token })).status).toBe(200);
    expect(logged('keys.reload_failed')).toHaveLength(1);
    const res = await c.request('GET', '/.well-known/jwks.json');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(jwks);

    // While D1 fails, at most one reload attempt per RELOAD_INTERVAL_SECONDS.
    const before = faults.hits.d1;
    for (let i = 0; i < 20; i++) {
      c.clock.advance(1);
      expect((await c.request('GET', '/api/private', { token: u.access_token })).status).toBe(200);
    }
    expect(faults.hits.d1 - before).toBeLessThanOrEqual(Math.ceil(20 / RELOAD_INTERVAL_SECONDS) + 1);

    // Past the bound the keys are no longer served: 503, not 500 and not 401 (the token is fine).
    c.clock.seconds += STALE_KEYS_SECONDS;
    await expectUnavailable(await c.request('GET', '/.well-known/jwks.json'), 'd1');
    faults.heal();
    expect((await c.request('GET', '/.well-known/jwks.json')).status).toBe(200);
  });

  it('a slow D1 during the reload does not hold the request beyond RELOAD_DEADLINE_MS', async () => {
    const { c, faults } = faulty();
    const u = await c.signedUp();
    faults.d1 = { delayMs: RELOAD_DEADLINE_MS * 3 };
    c.clock.advance(CACHE_TTL_SECONDS + 1);
    const started = Date.now();
    expect((await c.request('GET', '/api/private', { token: u.access_token })).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(RELOAD_DEADLINE_MS * 2);
  });

  it('an unknown kid while D1 fails is refused as unknown (401), not turned into a 503', async () => {
    const { c, faults } = faulty();
    const u = await c.signedUp();
    const [h, p, s] = u.access_token.split('.');
    const header = JSON.parse(atob(h!.replace(/-/g, '+').replace(/_/g, '/')));
    const forged = [btoa(JSON.stringify({ ...header, kid: 'no-such-kid' })).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'), p, s].join('.');
    faults.d1 = 'error';
    c.clock.advance(RELOAD_INTERVAL_SECONDS + 1);
    expect((await c.request('GET', '/api/private', { token: forged })).status).toBe(401);
  });
});

describe('KV erroring or slow on reads: revocation fails closed onto D1', () => {
  it('a revoked token stays refused and a live one accepted while KV reads fail; both stores failing is a 503', async () => {
    const { c, faults } = faulty();
    const u = await c.signedUp();
    const other = await c.login(u.username, u.password);
    expect((await c.request('POST', '/auth/logout', { token: other.access_token })).status).toBe(204);
    const elsewhere = anotherIsolate(c, faults);
    faults.kvRead = 'error';
    expect((await elsewhere.request('GET', '/api/private', { token: other.access_token })).status).toBe(401);
    expect((await elsewhere.request('GET', '/api/private', { token: u.access_token })).status).toBe(200);
    expect(logged('revocation.read_failed').length).toBeGreaterThan(0);
    faults.d1 = 'error';
    c.clock.advance(REVOCATION_CACHE_SECONDS + 1);
    await expectUnavailable(await elsewhere.request('GET', '/api/private', { token: u.access_token }), 'd1');
  });

  it('a user cutoff (logout-all of many sessions) is honoured through the fallback too', async () => {
    const { c, faults } = faulty();
    faults.rateLimit = 'admit'; // twelve logins from one client: not what this test is about
    const u = await c.signedUp();
    faults.rateLimit = 'ok';
    const sessionsOfU: TokenBody[] = [];
    faults.rateLimit = 'admit';
    for (let i = 0; i < 11; i++) sessionsOfU.push(await c.login(u.username, u.password));
    faults.rateLimit = 'ok';
    expect((await c.request('POST', '/auth/logout-all', { token: u.access_token })).status).toBe(204);
    faults.kvRead = 'error';
    c.clock.advance(1);
    const elsewhere = anotherIsolate(c, faults);
    for (const s of [u, ...sessionsOfU]) expect((await elsewhere.request('GET', '/api/private', { token: s.access_token })).status).toBe(401);
  });

  it('a slow KV read is abandoned for D1 after its deadline', async () => {
    const { c, faults } = faulty();
    const u = await c.signedUp();
    faults.kvRead = { delayMs: 3_000 };
    const elsewhere = anotherIsolate(c, faults);
    const started = Date.now();
    expect((await elsewhere.request('GET', '/api/private', { token: u.access_token })).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('refresh finds its session in D1 when the KV record read fails', async () => {
    const { c, faults } = faulty();
    const u = await c.signedUp();
    faults.kvRead = 'error';
    expect((await c.request('POST', '/auth/refresh', { json: { refresh_token: u.refresh_token } })).status).toBe(200);
  });
});

describe('KV refusing or failing writes', () => {
  it('login and refresh succeed when the refresh record write is refused (429); the token is found in D1', async () => {
    const { c, faults } = faulty();
    const u = await c.register();
    faults.kvWrite = 'refuse';
    const login = await c.request('POST', '/auth/login', { json: { username: u.username, password: PASSWORD } });
    expect(login.status).toBe(200);
    const tokens = (await login.json()) as TokenBody;
    const refreshed = await c.request('POST', '/auth/refresh', { json: { refresh_token: tokens.refresh_token } });
    expect(refreshed.status).toBe(200);
    expect(faults.hits.kvWrite).toBeGreaterThanOrEqual(2);
    expect(logged('refresh.record_write_failed').length).toBeGreaterThanOrEqual(2);
    faults.heal();
    const next = (await refreshed.json()) as TokenBody;
    expect((await c.request('POST', '/auth/refresh', { json: { refresh_token: next.refresh_token } })).status).toBe(200);
  });

  it('logout-all with every KV write failing: 204; refresh refused at once; the access token dies by the fresh check and its expiry', async () => {
    const { c, faults } = faulty();
    const u = await c.signedUp();
    faults.kvWrite = 'error';
    expect((await c.request('POST', '/auth/logout-all', { token: u.access_token })).status).toBe(204);
    expect(logged('revocation.write_failed').length).toBeGreaterThan(0);
    expect((await c.request('POST', '/auth/refresh', { json: { refresh_token: u.refresh_token } })).status).toBe(401);
    expect((await c.request('GET', '/admin/users', { token: u.access_token })).status).toBe(401);
  });
});

describe('D1 slow', () => {
  it('a login against a slow D1 completes (no deadline on writes: a give-up would not undo them)', async () => {
    const { c, faults } = faulty();
    const u = await c.register();
    faults.d1 = { delayMs: 150 };
    const res = await c.request('POST', '/auth/login', { json: { username: u.username, password: PASSWORD } });
    expect(res.status).toBe(200);
    expect(faults.hits.d1).toBeGreaterThan(2);
  });
});

describe('rate-limit binding failing: fail open, the D1 lockout still bounds guessing', () => {
  it('logins proceed when the limiter throws, each logged; the sixth wrong password meets the lockout', async () => {
    const { c, faults } = faulty();
    const u = await c.register();
    faults.rateLimit = 'error';
    expect((await c.request('POST', '/auth/login', { json: { username: u.username, password: PASSWORD } })).status).toBe(200);
    expect(logged('rate_limit.unavailable').length).toBeGreaterThanOrEqual(2); // per IP and per username
    for (let i = 0; i < 5; i++) {
      expect((await c.request('POST', '/auth/login', { json: { username: u.username, password: 'wrong password ' + i } })).status).toBe(401);
    }
    const locked = await c.request('POST', '/auth/login', { json: { username: u.username, password: PASSWORD } });
    expect(locked.status).toBe(401);
    expect(faults.hits.rateLimit).toBeGreaterThanOrEqual(14);
  });
});

describe('KV erroring on the reads of machine credentials: fail closed to 503', () => {
  it("an OAuth client's token and an API key are answered 503 while KV reads fail, and work again after", async () => {
    const { c, faults } = faulty();
    const a = await c.signedUp();
    await drizzle(env.DB).update(users).set({ roles: '["admin"]' }).where(eq(users.id, a.id)).run();
    const boss = await c.login(a.username, a.password);
    const key = ((await (await c.request('POST', '/auth/api-keys', { token: boss.access_token, json: { name: 'k' } })).json()) as { api_key: string }).api_key;
    const created = (await (await c.request('POST', '/admin/clients', { token: boss.access_token, json: { name: 'p', roles: [] } })).json()) as { client: { client_id: string }; client_secret: string };
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: created.client.client_id, client_secret: created.client_secret }).toString();
    const issued = (await (await c.request('POST', '/oauth/token', { body: form, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } })).json()) as { access_token: string };

    const elsewhere = anotherIsolate(c, faults);
    faults.kvRead = 'error';
    await expectUnavailable(await elsewhere.request('GET', '/api/private', { token: issued.access_token }), 'kv');
    await expectUnavailable(await elsewhere.request('GET', '/api/private', { headers: { 'X-API-Key': key } }), 'kv');
    // A user's token still has its D1 fallback.
    expect((await elsewhere.request('GET', '/api/private', { token: boss.access_token })).status).toBe(200);
    faults.kvRead = 'ok';
    c.clock.advance(REVOCATION_CACHE_SECONDS + 1);
    expect((await elsewhere.request('GET', '/api/private', { token: issued.access_token })).status).toBe(200);
    expect((await elsewhere.request('GET', '/api/private', { headers: { 'X-API-Key': key } })).status).toBe(200);
  });
});
