// The key ring in D1, rotation with overlap, bounded reloads, JWKS and discovery, admin
// key routes. Every rotation case runs for ES256 and for HS256 keys kept in D1 (no JWT_SECRET).
import { decodeProtectedHeader, generateKeyPair, SignJWT, type JWK } from 'jose';
import { withLowS } from '../src/crypto/ecdsa';
import { describe, expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { decryptSecret } from '../src/crypto/encrypt';
import { auditLog, users } from '../src/db/schema';
import { CACHE_TTL_SECONDS, ensureKeys, KeyRing, purgeRetiredKeys, RELOAD_INTERVAL_SECONDS, rotate, rotationOverlap } from '../src/tokens/keys';
import { envSecretKid } from '../src/tokens/key-material';
import { JWKS_MAX_AGE_CAP } from '../src/routes/well-known';
import { Client, errorOf, testEnv, uniqueName, type Alg } from './helpers';

interface KeyRowSql {
  kid: string;
  alg: string;
  status: string;
  public_jwk: string | null;
  private_enc: string;
}

async function keyRows(db: D1Database, alg?: string): Promise<KeyRowSql[]> {
  const stmt = alg ? db.prepare('SELECT * FROM signing_keys WHERE alg = ?').bind(alg) : db.prepare('SELECT * FROM signing_keys');
  return (await stmt.all<KeyRowSql>()).results;
}

function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>;
}

/** A signed-up user made admin in D1 directly (as core.test.ts does), logged in again for the role. */
async function adminOf(c: Client) {
  const user = await c.register(uniqueName('admin'));
  await drizzle(c.env.DB).update(users).set({ roles: '["admin"]' }).where(eq(users.id, user.id)).run();
  const tokens = await c.login(user.username, user.password);
  expect(tokens.user.roles).toEqual(['admin']);
  return { ...user, ...tokens };
}

async function status(c: Client, token: string): Promise<number> {
  return (await c.request('GET', '/api/private', { token })).status;
}

async function jwksKids(c: Client): Promise<string[]> {
  const { keys } = (await (await c.request('GET', '/.well-known/jwks.json')).json()) as { keys: JWK[] };
  return keys.map((k) => k.kid!);
}

// HS256 with an empty JWT_SECRET: the HS256 keys live in the D1 ring like ES256 keys.
const envFor = (alg: Alg) => testEnv({ JWT_ALG: alg, JWT_SECRET: '' });

describe.each<Alg>(['ES256', 'HS256'])('key rotation with %s', (alg) => {
  it('keeps old tokens valid, signs new ones with the new kid, and drops the old key after the overlap', async () => {
    const c = new Client(envFor(alg));
    const admin = await adminOf(c);
    const user = await c.signedUp();
    const oldKid = decodeProtectedHeader(user.access_token).kid!;
    // The old key itself, to forge a long-lived token: what a leaked retired key could sign.
    const oldKey = await c.ring().signingKey(c.clock.seconds);
    expect(oldKey.kid).toBe(oldKid);
    // Signed when used, with a current iat (an older one is refused as too old whatever the key).
    const longLived = async () => {
      const token = await new SignJWT({ ...payloadOf(user.access_token), iat: c.clock.seconds, exp: c.clock.seconds + 86_400 })
        .setProtectedHeader({ alg, kid: oldKid, typ: 'at+jwt' })
        .sign(oldKey.key);
      return alg === 'ES256' ? withLowS(token) : token;
    };
    if (alg === 'ES256') expect(await jwksKids(c)).toContain(oldKid);

    const rotatedAt = c.clock.seconds;
    const res = await c.request('POST', '/admin/keys/rotate', { token: admin.access_token });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { active: string; next: string; retired: string; retire_after: number };
    const overlap = rotationOverlap(c.config);
    expect(overlap).toBe(900 + 30 + CACHE_TTL_SECONDS);
    expect(body).toMatchObject({ alg, retired: oldKid, retire_after: rotatedAt + overlap });
    expect(body.active).not.toBe(oldKid);
    expect(body.next).not.toBe(body.active);

    // New tokens carry the new kid; the old token still works.
    const fresh = await c.login(user.username, user.password);
    expect(decodeProtectedHeader(fresh.access_token).kid).toBe(body.active);
    expect(await status(c, fresh.access_token)).toBe(200);
    expect(await status(c, user.access_token)).toBe(200);
    if (alg === 'ES256') expect(await jwksKids(c)).toEqual([body.active, body.next, oldKid]);

    // The old token lives until exp + leeway, inside the overlap.
    c.clock.advance(900 + 29);
    expect(await status(c, user.access_token)).toBe(200);
    c.clock.advance(2);
    expect(await status(c, user.access_token)).toBe(401);

    // Until the overlap ends the old key verifies (the control), then it is gone everywhere.
    c.clock.seconds = rotatedAt + overlap - 1;
    expect(await status(c, await longLived())).toBe(200);
    if (alg === 'ES256') expect(await jwksKids(c)).toContain(oldKid);
    c.clock.seconds = rotatedAt + overlap;
    expect(await status(c, await longLived())).toBe(401);
    if (alg === 'ES256') expect(await jwksKids(c)).not.toContain(oldKid);
    // A second isolate (a fresh ring) refuses it as well.
    const other = new Client(envFor(alg), c.clock);
    expect(await status(other, await longLived())).toBe(401);

    // The next rotation deletes the retired row, private half included.
    const admin2 = await c.login(admin.username, admin.password);
    expect((await c.request('POST', '/admin/keys/rotate', { token: admin2.access_token })).status).toBe(200);
    expect((await keyRows(c.env.DB, alg)).map((r) => r.kid)).not.toContain(oldKid);
  });

  it('a rotation made by another isolate reaches this one within seconds', async () => {
    const a = new Client(envFor(alg));
    const b = new Client(envFor(alg), a.clock); // another isolate: its own ring, the same D1
    const admin = await adminOf(a);
    const user = await b.signedUp();
    const before = decodeProtectedHeader(user.access_token).kid;
    const { active } = (await (await a.request('POST', '/admin/keys/rotate', { token: admin.access_token })).json()) as { active: string };
    expect(active).not.toBe(before);

    // A's new tokens verify in B at once: the new key was published (as next) before it signed.
    const loads = b.ring().loads;
    const fromA = await a.login(user.username, user.password);
    expect(decodeProtectedHeader(fromA.access_token).kid).toBe(active);
    expect(await status(b, fromA.access_token)).toBe(200);
    expect(b.ring().loads).toBe(loads);

    // Until B reloads it still signs with the retired key; the overlap covers those tokens too.
    const rotatedAt = a.clock.seconds;
    a.clock.advance(CACHE_TTL_SECONDS - 1);
    const stale = await b.login(user.username, user.password);
    expect(decodeProtectedHeader(stale.access_token).kid).toBe(before);
    // B's signer follows within CACHE_TTL_SECONDS.
    a.clock.advance(1);
    const fromB = await b.login(user.username, user.password);
    expect(decodeProtectedHeader(fromB.access_token).kid).toBe(active);

    a.clock.seconds = rotatedAt + CACHE_TTL_SECONDS - 1 + 900 + 29; // the stale token's last valid second
    expect(await status(a, stale.access_token)).toBe(200);
    expect(await status(new Client(envFor(alg), a.clock), stale.access_token)).toBe(200);
  });

  it('stores the private key encrypted, never in clear', async () => {
    const c = new Client(envFor(alg));
    const t = await c.signedUp();
    const kid = decodeProtectedHeader(t.access_token).kid!;
    const row = (await keyRows(c.env.DB, alg)).find((r) => r.kid === kid)!;
    expect(row.private_enc).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    const clear = await decryptSecret(c.config.keyEncryptionKey, row.private_enc, kid);
    if (alg === 'ES256') {
      const jwk = JSON.parse(clear) as JWK;
      expect(jwk.d).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(row.private_enc).not.toContain(jwk.d);
      expect(JSON.parse(row.public_jwk!)).not.toHaveProperty('d');
    } else {
      expect(clear).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(row.private_enc).not.toContain(clear);
      expect(row.public_jwk).toBeNull();
    }
    // Only the right secret opens it, and only for its own row (the kid is the associated data).
    await expect(decryptSecret('another-key-encryption-key-0123456789abcdefghij', row.private_enc, kid)).rejects.toThrow();
    await expect(decryptSecret(c.config.keyEncryptionKey, row.private_enc, 'another-kid')).rejects.toThrow();
    // Nothing of the key is in KV.
    const kv = await c.env.KV.list();
    for (const { name } of kv.keys) expect(name).not.toContain(kid);
  });
});

describe('purging retired keys', () => {
  it('deletes a retired key (and its encrypted private half) once its overlap has ended, not before', async () => {
    const c = new Client(envFor('ES256'));
    await c.signedUp();
    const { retired } = await rotate(c.env.DB, c.config, c.clock.seconds);
    const end = c.clock.seconds + rotationOverlap(c.config);
    await purgeRetiredKeys(c.env.DB, end - 1);
    expect((await keyRows(c.env.DB)).map((r) => r.kid)).toContain(retired);
    expect(await purgeRetiredKeys(c.env.DB, end)).toBeGreaterThanOrEqual(1);
    expect((await keyRows(c.env.DB)).map((r) => r.kid)).not.toContain(retired);
  });
});

describe('concurrent first use', () => {
  it('two cold isolates creating keys at once leave one active and one next key', async () => {
    const env = testEnv({ JWT_ALG: 'HS256', JWT_SECRET: '' });
    await env.DB.prepare("DELETE FROM signing_keys WHERE alg = 'HS256'").run();
    const configs = [testEnv({ JWT_ALG: 'HS256', JWT_SECRET: '' }), testEnv({ JWT_ALG: 'HS256', JWT_SECRET: '' })].map((e) => new Client(e).config);
    // Both creations run concurrently and both insert (neither checks first).
    const results = await Promise.all(configs.map((config) => ensureKeys(env.DB, config, 1_800_000_000)));
    expect(results[0]).toEqual(results[1]);
    const rows = await keyRows(env.DB, 'HS256');
    expect(rows.filter((r) => r.status === 'active')).toHaveLength(1);
    expect(rows.filter((r) => r.status === 'next')).toHaveLength(1);
    expect(rows).toHaveLength(2);
  });

  it('cold rings racing through real requests sign with the same key', async () => {
    const env = testEnv({ JWT_ALG: 'ES256' });
    await env.DB.prepare("DELETE FROM signing_keys WHERE alg = 'ES256'").run();
    const setup = new Client(env);
    const users = await Promise.all([setup.register(), setup.register(), setup.register()]);
    // Three isolates with cold rings, logging in at the same moment.
    const tokens = await Promise.all(
      users.map((u) => new Client(testEnv({ JWT_ALG: 'ES256' }), setup.clock).login(u.username, u.password)),
    );
    const kids = new Set(tokens.map((t) => decodeProtectedHeader(t.access_token).kid));
    expect(kids.size).toBe(1);
    const rows = await keyRows(env.DB, 'ES256');
    expect(rows.filter((r) => r.status === 'active')).toHaveLength(1);
    expect(rows.filter((r) => r.status === 'active')[0]!.kid).toBe([...kids][0]);
    for (const t of tokens) expect(await status(setup, t.access_token)).toBe(200);
  });
});

describe('forged kids', () => {
  async function forged(alg: Alg, kid: string, claims: Record<string, unknown>): Promise<string> {
    const header = { alg, kid, typ: 'at+jwt' };
    return alg === 'ES256'
      ? new SignJWT(claims).setProtectedHeader(header).sign((await generateKeyPair('ES256')).privateKey)
      : new SignJWT(claims).setProtectedHeader(header).sign(crypto.getRandomValues(new Uint8Array(32)));
  }

  it.each<Alg>(['ES256', 'HS256'])('%s: unknown kids cause at most one D1 reload per interval', async (alg) => {
    const c = new Client(envFor(alg));
    const t = await c.signedUp();
    const claims = payloadOf(t.access_token);
    const ring: KeyRing = c.ring();
    const base = ring.loads;

    // A burst of 40 forged kids, half of them concurrent: at most one reload.
    await Promise.all(Array.from({ length: 20 }, async (_, i) => expect(await status(c, await forged(alg, `forged-${i}`, claims))).toBe(401)));
    for (let i = 20; i < 40; i++) expect(await status(c, await forged(alg, `forged-${i}`, claims))).toBe(401);
    expect(ring.loads - base).toBeLessThanOrEqual(1);
    expect(await status(c, t.access_token)).toBe(200); // the real key is unaffected

    // Sustained: one forged kid per second for a minute -> at most one reload per interval.
    const start = ring.loads;
    for (let s = 0; s < 60; s++) {
      c.clock.advance(1);
      expect(await status(c, await forged(alg, `sustained-${s}`, claims))).toBe(401);
    }
    expect(ring.loads - start).toBeLessThanOrEqual(Math.ceil(60 / RELOAD_INTERVAL_SECONDS));
    expect(ring.loads - start).toBeGreaterThan(0); // and unknown kids do look again (a new key is found)
  });
});

describe('JWT_SECRET as the HS256 key', () => {
  it('signs with the secret (derived kid), touches no D1 key, and refuses ring rotation', async () => {
    const c = new Client(testEnv({ JWT_ALG: 'HS256' }));
    const admin = await adminOf(c);
    const kid = decodeProtectedHeader(admin.access_token).kid;
    expect(kid).toBe(await envSecretKid(c.config.jwtSecret!));
    const before = await keyRows(c.env.DB, 'HS256');
    const res = await c.request('POST', '/admin/keys/rotate', { token: admin.access_token });
    expect(res.status).toBe(409);
    expect((await errorOf(res)).error).toBe('conflict');
    expect(await keyRows(c.env.DB, 'HS256')).toEqual(before);
    const list = (await (await c.request('GET', '/admin/keys', { token: admin.access_token })).json()) as { signing: unknown };
    expect(list.signing).toEqual({ alg: 'HS256', kid, source: 'JWT_SECRET' });
  });
});

describe('admin key routes', () => {
  it('require the admin role', async () => {
    const c = new Client(envFor('ES256'));
    expect((await c.request('GET', '/admin/keys')).status).toBe(401);
    const plain = await c.signedUp();
    for (const [method, path] of [['GET', '/admin/keys'], ['POST', '/admin/keys/rotate']] as const) {
      const res = await c.request(method, path, { token: plain.access_token });
      expect(res.status).toBe(403);
      expect((await errorOf(res)).error).toBe('insufficient_scope');
    }
  });

  it('list kids, algorithms, statuses and dates without private material; rotation is audited', async () => {
    const c = new Client(envFor('ES256'));
    const admin = await adminOf(c);
    const rotated = (await (await c.request('POST', '/admin/keys/rotate', { token: admin.access_token })).json()) as {
      active: string;
      next: string;
      retired: string;
    };
    const res = await c.request('GET', '/admin/keys', { token: admin.access_token });
    expect(res.status).toBe(200);
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    const text = await res.text();
    const body = JSON.parse(text) as { signing: { kid: string }; rotation_overlap: number; keys: Record<string, unknown>[] };
    expect(body.signing).toEqual({ alg: 'ES256', kid: rotated.active, source: 'd1' });
    expect(body.rotation_overlap).toBe(940);
    const es = body.keys.filter((k) => k.alg === 'ES256');
    expect(es.slice(0, 3)).toEqual([
      { kid: rotated.active, alg: 'ES256', status: 'active', created_at: expect.any(Number), activated_at: c.clock.seconds, retired_at: null, retire_after: null, verifies: true },
      { kid: rotated.next, alg: 'ES256', status: 'next', created_at: c.clock.seconds, activated_at: null, retired_at: null, retire_after: null, verifies: true },
      { kid: rotated.retired, alg: 'ES256', status: 'retired', created_at: expect.any(Number), activated_at: expect.any(Number), retired_at: c.clock.seconds, retire_after: c.clock.seconds + 940, verifies: true },
    ]);
    for (const key of body.keys) expect(Object.keys(key).sort()).toEqual(['activated_at', 'alg', 'created_at', 'kid', 'retire_after', 'retired_at', 'status', 'verifies']);
    // No envelope, no private JWK member anywhere in the response.
    expect(text).not.toMatch(/v1\.|"d"|private/);
    for (const row of await keyRows(c.env.DB)) expect(text).not.toContain(row.private_enc);

    const entry = await drizzle(c.env.DB).select().from(auditLog).where(and(eq(auditLog.event, 'key_rotate'), eq(auditLog.actorId, admin.user.id))).get();
    expect(entry).toMatchObject({ outcome: 'success', actorId: admin.user.id });
    expect(JSON.parse(entry!.detail!)).toMatchObject({ alg: 'ES256', active: rotated.active, next: rotated.next, retired: rotated.retired });
  });
});

describe('JWKS and discovery', () => {
  it('JWKS: public keys with kid/alg/use, open CORS, Cache-Control sized to the overlap', async () => {
    const c = new Client(envFor('ES256'));
    const t = await c.signedUp();
    const res = await c.request('GET', '/.well-known/jwks.json', { headers: { Origin: 'https://elsewhere.example' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('Access-Control-Allow-Origin')).toBe('*');
    expect(res.headers.get('Cache-Control')).toBe(`public, max-age=${Math.min(JWKS_MAX_AGE_CAP, 940)}`);
    const { keys } = (await res.json()) as { keys: JWK[] };
    // The active key and the pre-published next key (plus keys retired by earlier tests of this file).
    const next = (await keyRows(c.env.DB, 'ES256')).find((r) => r.status === 'next')!.kid;
    expect(keys.slice(0, 2).map((k) => k.kid)).toEqual([decodeProtectedHeader(t.access_token).kid, next]);
    for (const k of keys) expect(Object.keys(k).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);

    // A short access TTL shortens the overlap, and the max-age with it.
    const short = new Client(testEnv({ ACCESS_TOKEN_TTL: '60', CLOCK_LEEWAY: '5' }));
    const shortRes = await short.request('GET', '/.well-known/jwks.json');
    expect(shortRes.headers.get('Cache-Control')).toBe(`public, max-age=${60 + 5 + CACHE_TTL_SECONDS}`);

    const preflight = await c.request('OPTIONS', '/.well-known/jwks.json', {
      headers: { Origin: 'https://elsewhere.example', 'Access-Control-Request-Method': 'GET' },
    });
    expect(preflight.headers.get('Access-Control-Allow-Origin')).toBe('*');
  });

  it('publishes RFC 8414 metadata with only what is true, and no OpenID document (audit)', async () => {
    const c = new Client(testEnv({ JWT_ISSUER: 'https://auth.example.com' }));
    const oauth = await c.request('GET', '/.well-known/oauth-authorization-server');
    expect(oauth.status).toBe(200);
    expect(oauth.headers.get('Access-Control-Allow-Origin')).toBe('*');
    const doc = (await oauth.json()) as Record<string, unknown>;
    expect(doc).toMatchObject({
      issuer: 'https://auth.example.com',
      jwks_uri: 'https://auth.example.com/.well-known/jwks.json',
      // Empty, not absent: RFC 8414's default for an absent member would claim flows that do not exist.
      response_types_supported: [],
      grant_types_supported: ['client_credentials'],
      token_endpoint: 'https://auth.example.com/oauth/token',
      introspection_endpoint: 'https://auth.example.com/oauth/introspect',
      revocation_endpoint: 'https://auth.example.com/oauth/revoke',
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      access_token_signing_alg_values_supported: ['ES256'],
      login_endpoint: 'https://auth.example.com/auth/login',
      refresh_endpoint: 'https://auth.example.com/auth/refresh',
    });
    // No registered member whose protocol the /auth endpoints do not speak, and nothing OpenID.
    for (const member of ['registration_endpoint', 'userinfo_endpoint', 'authorization_endpoint',
      'id_token_signing_alg_values_supported', 'subject_types_supported', 'claims_supported']) expect(doc).not.toHaveProperty(member);

    const oidc = await c.request('GET', '/.well-known/openid-configuration');
    expect(oidc.status).toBe(404);
    expect(await oidc.json()).toMatchObject({ error: 'not_found', message: expect.stringContaining('/.well-known/oauth-authorization-server') });
  });
});
