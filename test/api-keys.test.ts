// Personal API keys: lifecycle, step-up, format and checksum, roles as a subset of the owner's,
// owner changes reaching the keys, where keys are (not) accepted, and the hot path's storage use.
import { env } from 'cloudflare:workers';
import { and, eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { describe, expect, it } from 'vitest';
import { apiKeys, auditLog, users } from '../src/db/schema';
import { verifyToken } from '../src/rpc';
import { API_KEY_PATTERN, isWellFormedApiKey } from '../src/tokens/api-key-format';
import { REVOCATION_CACHE_SECONDS } from '../src/tokens/revocation';
import { instrumentedKv } from './bindings';
import { Client, errorOf, testEnv, type TokenBody } from './helpers';

const PASSWORD = 'correct horse battery';

interface KeyView {
  id: string;
  name: string;
  prefix: string;
  roles: string[];
  created_at: number;
  last_used_at: number | null;
  expires_at: number;
}

async function setRoles(c: Client, id: string, roles: string[]): Promise<void> {
  await drizzle(c.env.DB).update(users).set({ roles: JSON.stringify(roles) }).where(eq(users.id, id)).run();
}

async function newKey(c: Client, token: string, body: Record<string, unknown> = { name: 'ci' }): Promise<{ api_key: string; key: KeyView }> {
  const res = await c.request('POST', '/auth/api-keys', { token, json: body });
  if (res.status !== 201) throw new Error(`create key: ${res.status} ${await res.text()}`);
  return (await res.json()) as { api_key: string; key: KeyView };
}

async function get(c: Client, path: string, headers: Record<string, string>): Promise<Response> {
  return c.request('GET', path, { headers });
}

describe('API keys: lifecycle', () => {
  it('created once, listed as metadata, accepted as Bearer and X-API-Key, revoked', async () => {
    const c = new Client(testEnv());
    const u = await c.signedUp();
    const created = await newKey(c, u.access_token, { name: 'deploy bot', roles: [], expires_in: 3600 });
    expect(created.api_key).toMatch(API_KEY_PATTERN);
    expect(isWellFormedApiKey(created.api_key)).toBe(true);
    expect(created.key).toMatchObject({ name: 'deploy bot', roles: [], expires_at: c.clock.seconds + 3600, last_used_at: null });
    expect(created.api_key.startsWith(created.key.prefix)).toBe(true);

    const list = await c.request('GET', '/auth/api-keys', { token: u.access_token });
    expect(list.status).toBe(200);
    const text = await list.text();
    expect(text).not.toContain(created.api_key);
    expect((JSON.parse(text) as { api_keys: KeyView[] }).api_keys.map((k) => k.id)).toEqual([created.key.id]);
    // Only the hash is stored.
    const [row] = await drizzle(env.DB).select().from(apiKeys).where(eq(apiKeys.id, created.key.id));
    expect(JSON.stringify(row)).not.toContain(created.api_key.slice(12));

    for (const headers of [{ Authorization: `Bearer ${created.api_key}` }, { 'X-API-Key': created.api_key }] as Record<string, string>[]) {
      const res = await get(c, '/api/private', headers);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { user: { id: string } }).user.id).toBe(u.id);
    }
    const me = await get(c, '/auth/me', { 'X-API-Key': created.api_key });
    expect(((await me.json()) as { user: { username: string } }).user.username).toBe(u.username);

    expect((await c.request('DELETE', `/auth/api-keys/${created.key.id}`, { token: u.access_token })).status).toBe(204);
    const after = await get(c, '/api/private', { 'X-API-Key': created.api_key });
    expect(after.status).toBe(401);
    expect((await errorOf(after)).message).toBe('The API key is invalid, expired or revoked.');
    // Another isolate sees it within the revocation bound (KV plus its 5 s cache).
    const other = new Client(testEnv(), c.clock);
    expect((await get(other, '/api/private', { 'X-API-Key': created.api_key })).status).toBe(401);
    expect((await c.request('DELETE', `/auth/api-keys/${created.key.id}`, { token: u.access_token })).status).toBe(404);

    const events = await drizzle(env.DB).select().from(auditLog).where(eq(auditLog.subjectId, u.id));
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['api_key_create', 'api_key_revoke']));
    expect(JSON.stringify(events)).not.toContain(created.api_key);
  });

  it('expires: refused after expires_in', async () => {
    const c = new Client(testEnv());
    const u = await c.signedUp();
    const { api_key } = await newKey(c, u.access_token, { name: 'short', expires_in: 60 });
    expect((await get(c, '/api/private', { 'X-API-Key': api_key })).status).toBe(200);
    c.clock.advance(61);
    expect((await get(c, '/api/private', { 'X-API-Key': api_key })).status).toBe(401);
  });

  it('needs a recent sign-in or the password again (step-up, RFC 9470)', async () => {
    const c = new Client(testEnv());
    const u = await c.signedUp();
    c.clock.advance(301);
    // A refreshed token is not a new sign-in.
    const refreshed = (await (await c.request('POST', '/auth/refresh', { json: { refresh_token: u.refresh_token } })).json()) as TokenBody;
    const stale = await c.request('POST', '/auth/api-keys', { token: refreshed.access_token, json: { name: 'x' } });
    expect(stale.status).toBe(401);
    expect((await errorOf(stale)).error).toBe('insufficient_user_authentication');
    expect(stale.headers.get('WWW-Authenticate')).toContain('error="insufficient_user_authentication"');
    expect(stale.headers.get('WWW-Authenticate')).toContain('max_age=300');
    const wrong = await c.request('POST', '/auth/api-keys', { token: refreshed.access_token, json: { name: 'x', password: 'not it at all' } });
    expect(wrong.status).toBe(401);
    expect((await errorOf(wrong)).error).toBe('invalid_credentials');
    expect((await c.request('POST', '/auth/api-keys', { token: refreshed.access_token, json: { name: 'x', password: PASSWORD } })).status).toBe(201);
    const fresh = await c.login(u.username, u.password);
    expect((await c.request('POST', '/auth/api-keys', { token: fresh.access_token, json: { name: 'y' } })).status).toBe(201);
  });

  it('at most 25 live keys per user', async () => {
    const c = new Client(testEnv());
    const u = await c.signedUp();
    for (let i = 0; i < 25; i++) await drizzle(env.DB).insert(apiKeys).values({ id: crypto.randomUUID(), userId: u.id, name: `k${i}`, displayPrefix: 'eak_x', keyHash: `h-${u.id}-${i}`, roles: '[]', createdAt: c.clock.seconds, expiresAt: c.clock.seconds + 3600 }).run();
    const res = await c.request('POST', '/auth/api-keys', { token: u.access_token, json: { name: 'one too many' } });
    expect(res.status).toBe(409);
  });
});

describe('API keys: roles and owners', () => {
  it('a key holds only roles its owner holds; demotion, disable and delete reach it', async () => {
    const c = new Client(testEnv());
    const admin = await c.signedUp();
    await setRoles(c, admin.id, ['admin']);
    const boss = await c.login(admin.username, admin.password);
    const u = await c.signedUp();
    await setRoles(c, u.id, ['support']);
    const owner = await c.login(u.username, u.password);

    const tooMuch = await c.request('POST', '/auth/api-keys', { token: owner.access_token, json: { name: 'x', roles: ['admin'] } });
    expect(tooMuch.status).toBe(403);
    const { api_key, key } = await newKey(c, owner.access_token, { name: 'support bot' });
    expect(key.roles).toEqual(['support']); // default: the owner's current roles

    const rpc = await verifyToken(c.env, api_key, c.clock.seconds, { roles: ['support'] });
    expect(rpc).toMatchObject({ ok: true, claims: { type: 'api_key', sub: u.id, roles: ['support'], key_id: key.id } });

    // Demoted: the key loses the role within the revocation bound.
    expect((await c.request('PATCH', `/admin/users/${u.id}`, { token: boss.access_token, json: { roles: [] } })).status).toBe(200);
    c.clock.advance(REVOCATION_CACHE_SECONDS + 1);
    expect(await verifyToken(c.env, api_key, c.clock.seconds, { roles: ['support'] })).toMatchObject({ ok: false, error: 'insufficient_scope' });
    expect((await get(c, '/api/private', { 'X-API-Key': api_key })).status).toBe(200);

    // Disabled: refused; enabled again: back, with the roles the owner has now.
    expect((await c.request('PATCH', `/admin/users/${u.id}`, { token: boss.access_token, json: { disabled: true } })).status).toBe(200);
    c.clock.advance(REVOCATION_CACHE_SECONDS + 1);
    expect((await get(c, '/api/private', { 'X-API-Key': api_key })).status).toBe(401);
    expect((await c.request('PATCH', `/admin/users/${u.id}`, { token: boss.access_token, json: { disabled: false, roles: ['support'] } })).status).toBe(200);
    c.clock.advance(REVOCATION_CACHE_SECONDS + 1);
    expect(await verifyToken(c.env, api_key, c.clock.seconds, { roles: ['support'] })).toMatchObject({ ok: true });

    // Administrators list and revoke any user's keys.
    const listed = await c.request('GET', `/admin/users/${u.id}/api-keys`, { token: boss.access_token });
    expect(((await listed.json()) as { api_keys: KeyView[] }).api_keys.map((k) => k.id)).toEqual([key.id]);
    const second = await newKey(c, (await c.login(u.username, u.password)).access_token, { name: 'second' });
    expect((await c.request('DELETE', `/admin/api-keys/${second.key.id}`, { token: boss.access_token })).status).toBe(204);
    expect((await get(c, '/api/private', { 'X-API-Key': second.api_key })).status).toBe(401);
    expect((await c.request('GET', `/admin/users/${u.id}/api-keys`, { token: owner.access_token })).status).toBe(401); // owner's token ended by the role change

    // Deleted: refused everywhere.
    expect((await c.request('DELETE', `/admin/users/${u.id}`, { token: boss.access_token })).status).toBe(204);
    c.clock.advance(REVOCATION_CACHE_SECONDS + 1);
    expect((await get(new Client(testEnv(), c.clock), '/api/private', { 'X-API-Key': api_key })).status).toBe(401);
  });

  it('an admin key works on the admin API while its owner is an administrator', async () => {
    const c = new Client(testEnv());
    const a = await c.signedUp();
    await setRoles(c, a.id, ['admin']);
    const boss = await c.login(a.username, a.password);
    const { api_key } = await newKey(c, boss.access_token, { name: 'ops', roles: ['admin'] });
    expect((await get(c, '/admin/users?limit=1', { Authorization: `Bearer ${api_key}` })).status).toBe(200);
    // The fresh check reads the owner: demoted in D1 behind the API, refused at once.
    await setRoles(c, a.id, []);
    expect((await get(c, '/admin/users?limit=1', { Authorization: `Bearer ${api_key}` })).status).toBe(403);
  });
});

describe('API keys: where they are accepted', () => {
  it('never in a cookie, never in the query string; not for session routes', async () => {
    const c = new Client(testEnv());
    const u = await c.signedUp();
    const { api_key } = await newKey(c, u.access_token);
    expect((await get(c, '/api/private', { Cookie: `__Host-edge_access=${api_key}` })).status).toBe(401);
    expect((await c.request('GET', `/api/private?api_key=${api_key}`)).status).toBe(401);
    expect((await c.request('GET', `/api/private?access_token=${api_key}`)).status).toBe(401);
    for (const [method, path] of [['POST', '/auth/logout-all'], ['POST', '/auth/logout'], ['GET', '/auth/sessions'], ['POST', '/auth/api-keys'], ['GET', '/auth/api-keys']] as const) {
      const res = await c.request(method, path, { headers: { 'X-API-Key': api_key, 'Content-Type': 'application/json' }, body: method === 'POST' ? '{"name":"x"}' : undefined });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect((await errorOf(res)).error).toBe('forbidden');
    }
    // Both headers at once: ambiguous, refused.
    expect((await get(c, '/api/private', { 'X-API-Key': api_key, Authorization: `Bearer ${u.access_token}` })).status).toBe(401);
  });

  it('a mistyped key is refused by its checksum without any storage read', async () => {
    const kv = instrumentedKv(env.KV);
    const c = new Client({ ...testEnv(), KV: kv.kv });
    const u = await c.signedUp();
    const { api_key } = await newKey(c, u.access_token);
    const last = api_key.at(-1)!;
    const typo = api_key.slice(0, -1) + (last === 'a' ? 'b' : 'a');
    kv.reset();
    expect((await get(c, '/api/private', { 'X-API-Key': typo })).status).toBe(401);
    expect((await get(c, '/api/private', { 'X-API-Key': 'eak_short' })).status).toBe(401);
    expect(kv.stats.total()).toBe(0);
  });
});

describe('API keys: the hot path', () => {
  it('one KV read per key per cache period, no D1 on the request; "last used" written at most every 5 minutes, after the response', async () => {
    const kv = instrumentedKv(env.KV);
    const real = new Client(testEnv());
    const u = await real.signedUp();
    const { api_key, key } = await newKey(real, u.access_token);
    const c = new Client({ ...testEnv(), KV: kv.kv }, real.clock); // a fresh isolate's view: nothing cached
    kv.reset();
    for (let i = 0; i < 5; i++) expect((await get(c, '/api/private', { 'X-API-Key': api_key })).status).toBe(200);
    expect(kv.stats.gets).toBe(1);
    expect(kv.stats.puts).toBe(0);
    const lastUsed = async () => (await drizzle(env.DB).select({ at: apiKeys.lastUsedAt }).from(apiKeys).where(and(eq(apiKeys.id, key.id))))[0]!.at;
    expect(await lastUsed()).toBe(real.clock.seconds);
    real.clock.advance(REVOCATION_CACHE_SECONDS + 1);
    expect((await get(c, '/api/private', { 'X-API-Key': api_key })).status).toBe(200);
    expect(kv.stats.gets).toBe(2);
    expect(await lastUsed()).toBe(real.clock.seconds - REVOCATION_CACHE_SECONDS - 1); // not rewritten within the interval
  });
});
