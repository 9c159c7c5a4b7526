// Rotating refresh tokens, reuse detection with a grace window, revocation, sessions.
import { describe, expect, it } from 'vitest';
import { drizzle } from 'drizzle-orm/d1';
import { eq } from 'drizzle-orm';
import { sessions, users } from '../src/db/schema';
import { startSession } from '../src/tokens/refresh';
import { sha256 } from '../src/crypto/digest';
import { REVOCATION_CACHE_SECONDS } from '../src/tokens/revocation';
import { Client, errorOf, testEnv, type TokenBody } from './helpers';

async function refresh(c: Client, token: string): Promise<Response> {
  return c.request('POST', '/auth/refresh', { json: { refresh_token: token } });
}

async function refreshOk(c: Client, token: string): Promise<TokenBody> {
  const res = await refresh(c, token);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as TokenBody;
}

async function expectGrantRefused(c: Client, token: string): Promise<void> {
  const res = await refresh(c, token);
  expect(res.status).toBe(401);
  expect((await errorOf(res)).error).toBe('invalid_grant');
}

async function status(c: Client, path: string, token: string): Promise<number> {
  return (await c.request('GET', path, { token })).status;
}

function sidOf(accessToken: string): string {
  return (JSON.parse(atob(accessToken.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { sid: string }).sid;
}

describe('refresh rotation', () => {
  it('returns a new access and refresh token; the old one is refused after the grace window', async () => {
    const c = new Client(testEnv());
    const t0 = await c.signedUp();
    c.clock.advance(60);
    const t1 = await refreshOk(c, t0.refresh_token);
    expect(t1.refresh_token).not.toBe(t0.refresh_token);
    expect(t1.access_token).not.toBe(t0.access_token);
    expect(sidOf(t1.access_token)).toBe(sidOf(t0.access_token));
    expect(t1).toMatchObject({ token_type: 'Bearer', expires_in: 900, user: { id: t0.user.id } });
    expect(await status(c, '/api/private', t1.access_token)).toBe(200);

    c.clock.advance(11); // past REFRESH_REUSE_GRACE (10 s)
    const t2 = await refreshOk(c, t1.refresh_token); // the new one works
    await expectGrantRefused(c, t0.refresh_token); // the old one does not
    expect(t2.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('within the grace window a repeated refresh returns the same successor', async () => {
    const c = new Client(testEnv());
    const t0 = await c.signedUp();
    const a = await refreshOk(c, t0.refresh_token);
    c.clock.advance(5);
    const b = await refreshOk(c, t0.refresh_token);
    expect(b.refresh_token).toBe(a.refresh_token);
    expect(b.access_token).not.toBe(a.access_token);
    // the session did not fork: the successor is still the one current token
    const next = await refreshOk(c, a.refresh_token);
    expect(next.refresh_token).not.toBe(a.refresh_token);
  });

  it('20 concurrent refreshes of one token all succeed with the same successor', async () => {
    const c = new Client(testEnv());
    const t0 = await c.signedUp();
    const results = await Promise.all(Array.from({ length: 20 }, () => refresh(c, t0.refresh_token)));
    const bodies = await Promise.all(results.map(async (r) => ({ status: r.status, body: (await r.json()) as TokenBody })));
    expect(bodies.map((b) => b.status)).toEqual(Array(20).fill(200));
    const successors = new Set(bodies.map((b) => b.body.refresh_token));
    expect(successors.size).toBe(1);
    const [successor] = [...successors];
    expect(successor).not.toBe(t0.refresh_token);
    // exactly one rotation happened
    const row = await drizzle(c.env.DB).select().from(sessions).where(eq(sessions.id, sidOf(t0.access_token))).get();
    expect(row!.generation).toBe(1);
    await refreshOk(c, successor!);
  });

  it('a replay after the grace window revokes the whole session', async () => {
    const c = new Client(testEnv());
    const t0 = await c.signedUp();
    const t1 = await refreshOk(c, t0.refresh_token);
    c.clock.advance(30);
    await expectGrantRefused(c, t0.refresh_token); // replay of the parent
    await expectGrantRefused(c, t1.refresh_token); // the successor stops working
    expect(await status(c, '/api/private', t1.access_token)).toBe(401); // and every access token of the session
    expect(await status(c, '/api/private', t0.access_token)).toBe(401);
    const row = await drizzle(c.env.DB).select().from(sessions).where(eq(sessions.id, sidOf(t0.access_token))).get();
    expect(row!.revokedReason).toBe('refresh_reuse');
    const audit = await c.env.DB.prepare("SELECT event, outcome, subject_id FROM audit_log WHERE event = 'refresh_reuse_detected' AND subject_id = ?")
      .bind(t0.user.id)
      .all();
    expect(audit.results).toHaveLength(1);
  });

  it('a replay of an older ancestor is detected too', async () => {
    const c = new Client(testEnv());
    const t0 = await c.signedUp();
    const t1 = await refreshOk(c, t0.refresh_token);
    const t2 = await refreshOk(c, t1.refresh_token);
    await expectGrantRefused(c, t0.refresh_token); // grandparent: never within grace
    await expectGrantRefused(c, t2.refresh_token);
  });

  it('refuses expired and garbage refresh tokens with 401 invalid_grant', async () => {
    const c = new Client(testEnv());
    for (const garbage of ['x', 'A'.repeat(43), 'not a token at all!', 'A'.repeat(500)]) await expectGrantRefused(c, garbage);
    const t0 = await c.signedUp();
    c.clock.advance(1_209_600 + 1); // past REFRESH_TOKEN_TTL without use
    await expectGrantRefused(c, t0.refresh_token);
    const missing = await c.request('POST', '/auth/refresh', { json: {} });
    expect(missing.status).toBe(400);
  });

  it('slides the refresh lifetime but never past the absolute session limit', async () => {
    const c = new Client(testEnv({ REFRESH_TOKEN_TTL: '100', SESSION_MAX_AGE: '250' }));
    const t0 = await c.signedUp();
    expect(t0.refresh_expires_in).toBe(100);
    c.clock.advance(90);
    const t1 = await refreshOk(c, t0.refresh_token);
    expect(t1.refresh_expires_in).toBe(100); // slid
    c.clock.advance(90);
    const t2 = await refreshOk(c, t1.refresh_token);
    expect(t2.refresh_expires_in).toBe(250 - 180); // capped by the absolute limit
    c.clock.advance(69);
    const t3 = await refreshOk(c, t2.refresh_token);
    expect(t3.refresh_expires_in).toBe(1);
    c.clock.advance(2); // 251 s after login
    await expectGrantRefused(c, t3.refresh_token);
  });

  it('stores only hashes: KV keys and D1 rows never hold the raw refresh token', async () => {
    const c = new Client(testEnv());
    const t0 = await c.signedUp();
    const hash = await sha256(t0.refresh_token);
    const record = await c.env.KV.get(`refresh:${hash}`, 'json');
    expect(record).toEqual({ sid: sidOf(t0.access_token), uid: t0.user.id });
    const { keys } = await c.env.KV.list({ prefix: 'refresh:' });
    for (const k of keys) expect(k.name).not.toContain(t0.refresh_token);
    const row = await drizzle(c.env.DB).select().from(sessions).where(eq(sessions.id, sidOf(t0.access_token))).get();
    expect(row!.currentHash).toBe(hash);
    expect(JSON.stringify(row)).not.toContain(t0.refresh_token);
  });

  it('still rotates when the KV record has not propagated (falls back to D1)', async () => {
    const c = new Client(testEnv());
    const t0 = await c.signedUp();
    await c.env.KV.delete(`refresh:${await sha256(t0.refresh_token)}`);
    await refreshOk(c, t0.refresh_token);
  });
});

describe('login races', () => {
  it('creates no session when the user changed or vanished while the password was being checked', async () => {
    const c = new Client(testEnv());
    const t = await c.signedUp();
    const row = await drizzle(c.env.DB).select().from(users).where(eq(users.id, t.user.id)).get();
    const meta = { ip: null, userAgent: null };
    const count = async () => (await c.env.DB.prepare('SELECT count(*) AS n FROM sessions WHERE user_id = ?').bind(t.user.id).first<{ n: number }>())!.n;
    const before = await count();
    // the password changed meanwhile
    expect(await startSession(c.env, c.config, t.user.id, { passwordHash: '$argon2id$stale', roles: row!.roles }, meta, c.clock.seconds)).toBeUndefined();
    // the roles changed meanwhile
    expect(await startSession(c.env, c.config, t.user.id, { passwordHash: row!.passwordHash, roles: '["admin"]' }, meta, c.clock.seconds)).toBeUndefined();
    // disabled meanwhile
    await drizzle(c.env.DB).update(users).set({ disabled: true }).where(eq(users.id, t.user.id)).run();
    expect(await startSession(c.env, c.config, t.user.id, { passwordHash: row!.passwordHash, roles: row!.roles }, meta, c.clock.seconds)).toBeUndefined();
    expect(await count()).toBe(before);
    // deleted meanwhile: no foreign-key failure, just no session
    expect(await startSession(c.env, c.config, 'no-such-user', { passwordHash: row!.passwordHash, roles: row!.roles }, meta, c.clock.seconds)).toBeUndefined();
    // unchanged: the session is created
    await drizzle(c.env.DB).update(users).set({ disabled: false }).where(eq(users.id, t.user.id)).run();
    expect(await startSession(c.env, c.config, t.user.id, { passwordHash: row!.passwordHash, roles: row!.roles }, meta, c.clock.seconds)).toBeDefined();
    expect(await count()).toBe(before + 1);
  });
});

describe('logout and revocation', () => {
  it('logout makes the access token 401 at once and ends the refresh token', async () => {
    const c = new Client(testEnv());
    const t = await c.signedUp();
    expect(await status(c, '/api/private', t.access_token)).toBe(200);
    const res = await c.request('POST', '/auth/logout', { token: t.access_token });
    expect(res.status).toBe(204);
    expect(await status(c, '/api/private', t.access_token)).toBe(401);
    expect(await status(c, '/auth/me', t.access_token)).toBe(401);
    await expectGrantRefused(c, t.refresh_token);
  });

  it('revocation entries expire when the tokens they cover have expired', async () => {
    const c = new Client(testEnv());
    const t = await c.signedUp();
    await c.request('POST', '/auth/logout', { token: t.access_token });
    const { keys } = await c.env.KV.list({ prefix: `revoked:sid:${sidOf(t.access_token)}` });
    expect(keys).toHaveLength(1);
    const ttl = keys[0]!.expiration! - Math.floor(Date.now() / 1000);
    expect(ttl).toBeGreaterThan(900);
    expect(ttl).toBeLessThanOrEqual(900 + 30 + 2);
  });

  it('logout-all ends every session of the user, not other users', async () => {
    const c = new Client(testEnv());
    const a = await c.signedUp();
    const b = await c.login(a.username, a.password);
    const other = await c.signedUp();
    const res = await c.request('POST', '/auth/logout-all', { token: b.access_token });
    expect(res.status).toBe(204);
    for (const t of [a, b]) {
      expect(await status(c, '/api/private', t.access_token)).toBe(401);
      await expectGrantRefused(c, t.refresh_token);
    }
    expect(await status(c, '/api/private', other.access_token)).toBe(200);
    await refreshOk(c, other.refresh_token);
  });

  it('password change keeps the caller session and ends the others', async () => {
    const c = new Client(testEnv());
    const a = await c.signedUp();
    const b = await c.login(a.username, a.password);
    const wrong = await c.request('POST', '/auth/password', { token: a.access_token, json: { current_password: 'nope nope nope', new_password: 'a brand new password' } });
    expect(wrong.status).toBe(401);
    expect(await status(c, '/api/private', b.access_token)).toBe(200);

    const res = await c.request('POST', '/auth/password', { token: a.access_token, json: { current_password: a.password, new_password: 'a brand new password' } });
    expect(res.status).toBe(204);
    expect(await status(c, '/api/private', a.access_token)).toBe(200);
    await refreshOk(c, a.refresh_token);
    expect(await status(c, '/api/private', b.access_token)).toBe(401);
    await expectGrantRefused(c, b.refresh_token);
    expect((await c.request('POST', '/auth/login', { json: { username: a.username, password: a.password } })).status).toBe(401);
    await c.login(a.username, 'a brand new password');
  });

  it('lists the active sessions without secrets and ends one by id', async () => {
    const c = new Client(testEnv());
    const a = await c.signedUp();
    const b = await c.login(a.username, a.password);
    const res = await c.request('GET', '/auth/sessions', { token: a.access_token });
    expect(res.status).toBe(200);
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    const { sessions: list } = (await res.json()) as { sessions: Record<string, unknown>[] };
    expect(list).toHaveLength(2);
    for (const s of list) expect(Object.keys(s).sort()).toEqual(['created_at', 'current', 'expires_at', 'id', 'ip', 'last_used_at', 'user_agent']);
    expect(list.find((s) => s.current)!.id).toBe(sidOf(a.access_token));

    const other = await c.signedUp();
    expect((await c.request('DELETE', `/auth/sessions/${sidOf(other.access_token)}`, { token: a.access_token })).status).toBe(404);
    expect((await c.request('DELETE', '/auth/sessions/not-a-uuid', { token: a.access_token })).status).toBe(404);
    expect(await status(c, '/api/private', other.access_token)).toBe(200);

    expect((await c.request('DELETE', `/auth/sessions/${sidOf(b.access_token)}`, { token: a.access_token })).status).toBe(204);
    expect(await status(c, '/api/private', b.access_token)).toBe(401);
    await expectGrantRefused(c, b.refresh_token);
    const after = (await (await c.request('GET', '/auth/sessions', { token: a.access_token })).json()) as { sessions: unknown[] };
    expect(after.sessions).toHaveLength(1);
  });

  it('logout with the refresh token of another of my sessions ends both', async () => {
    const c = new Client(testEnv());
    const a = await c.signedUp();
    const b = await c.login(a.username, a.password);
    const res = await c.request('POST', '/auth/logout', { token: a.access_token, json: { refresh_token: b.refresh_token } });
    expect(res.status).toBe(204);
    expect(await status(c, '/api/private', b.access_token)).toBe(401);
  });

  it('requireAuth reads at most one KV key per request and never D1', async () => {
    // The usage meter's time-based flush (a D1 batch under waitUntil, after the response:
    // test/usage.test.ts) would land inside this test's windows: held back for its length.
    const c = new Client(testEnv({ USAGE_FLUSH_SECONDS: '60' }));
    const t = await c.signedUp();
    const calls: string[] = [];
    const kv = new Proxy(c.env.KV, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls.push(`kv.${String(prop)}`);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const db = new Proxy(c.env.DB, {
      get(target, prop, receiver) {
        calls.push(`db.${String(prop)}`);
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const observed = new Client({ ...c.env, KV: kv, DB: db }, c.clock);
    const t2 = await observed.login(t.username, t.password); // also warms the isolate's key ring
    calls.length = 0;
    expect((await observed.request('GET', '/api/private', { token: t2.access_token })).status).toBe(200);
    expect(calls).toEqual(['kv.get']); // the revocation check: one read
    calls.length = 0;
    c.clock.advance(REVOCATION_CACHE_SECONDS - 1);
    expect((await observed.request('GET', '/api/private', { token: t2.access_token })).status).toBe(200);
    expect(calls).toEqual([]); // answered by the isolate's short revocation cache
    c.clock.advance(1);
    expect((await observed.request('GET', '/api/private', { token: t2.access_token })).status).toBe(200);
    expect(calls).toEqual(['kv.get']); // cache expired: read again
  });

  it('a revocation whose KV write was lost is repaired by the next revocation request', async () => {
    const c = new Client(testEnv());
    const a = await c.signedUp();
    // Another isolate: same storage, its own revocation cache (keyed by the binding object).
    const kv = new Proxy(c.env.KV, {
      get(target, prop) {
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? (...args: unknown[]) => (value as (...x: unknown[]) => unknown).apply(target, args) : value;
      },
    });
    const elsewhere = new Client({ ...c.env, KV: kv }, c.clock);
    expect((await c.request('POST', '/auth/logout-all', { token: a.access_token })).status).toBe(204);
    await c.env.KV.delete(`revoked:sid:${sidOf(a.access_token)}`); // the KV step was lost
    expect(await status(elsewhere, '/api/private', a.access_token)).toBe(200); // so the token still works there
    const b = await c.login(a.username, a.password);
    expect((await c.request('POST', '/auth/logout-all', { token: b.access_token })).status).toBe(204); // the retry
    c.clock.advance(REVOCATION_CACHE_SECONDS);
    expect(await status(elsewhere, '/api/private', a.access_token)).toBe(401);
  });

  it('a revocation reaches other isolates through KV within the cache time', async () => {
    const c = new Client(testEnv());
    const t = await c.signedUp();
    expect(await status(c, '/api/private', t.access_token)).toBe(200); // "not revoked" now cached here
    // Another isolate (elsewhere) revokes the session: only KV learns of it.
    await c.env.KV.put(`revoked:sid:${sidOf(t.access_token)}`, JSON.stringify({ at: c.clock.seconds, reason: 'logout' }), { expirationTtl: 3600 });
    expect(await status(c, '/api/private', t.access_token)).toBe(200); // within REVOCATION_CACHE_SECONDS
    c.clock.advance(REVOCATION_CACHE_SECONDS);
    expect(await status(c, '/api/private', t.access_token)).toBe(401);
  });
});
