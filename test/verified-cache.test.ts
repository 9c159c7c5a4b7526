// The per-isolate verified-token cache (tokens/verified-cache.ts): it saves the signature check and
// the claim parsing of a token already verified, and nothing else. Every refusal a fresh
// verification or a later check would give must still happen with the token cached: revocation,
// logout, expiry on the test clock, a retired or deleted key, roles, the fresh lookup. A token that
// differs by one character is verified on its own; a refused token is never cached; the bounds hold.
import { decodeProtectedHeader, SignJWT } from 'jose';
import { drizzle } from 'drizzle-orm/d1';
import { eq } from 'drizzle-orm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { withLowS } from '../src/crypto/ecdsa';
import { users } from '../src/db/schema';
import { CACHE_TTL_SECONDS, rotationOverlap, STALE_KEYS_SECONDS } from '../src/tokens/keys';
import { VERIFIED_CACHE_CHARS, VERIFIED_CACHE_ENTRIES, VerifiedTokenCache, type VerifiedToken } from '../src/tokens/verified-cache';
import { Faults, faultyEnv } from './bindings';
import { Client, errorOf, testEnv, uniqueName, type Alg } from './helpers';

// HS256 with an empty JWT_SECRET keeps its keys in the D1 ring, so both algorithms can rotate.
const envFor = (alg: Alg) => testEnv({ JWT_ALG: alg, JWT_SECRET: '' });

async function status(c: Client, token: string, path = '/api/private'): Promise<number> {
  return (await c.request('GET', path, { token })).status;
}

function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>;
}

/** A user made admin in D1 directly, logged in again so the token carries the role. */
async function adminOf(c: Client) {
  const user = await c.register(uniqueName('admin'));
  await drizzle(c.env.DB).update(users).set({ roles: '["admin"]' }).where(eq(users.id, user.id)).run();
  return { ...user, ...(await c.login(user.username, user.password)) };
}

/** Counts WebCrypto signature checks (jose's verification ends in crypto.subtle.verify). */
function countVerifies(): { calls: () => number } {
  const spy = vi.spyOn(crypto.subtle, 'verify');
  return { calls: () => spy.mock.calls.length };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each<Alg>(['ES256', 'HS256'])('verified-token cache with %s', (alg) => {
  it('verifies a token once per isolate, then serves it from the cache until it expires', async () => {
    const c = new Client(envFor(alg));
    const t = await c.signedUp();
    const verifies = countVerifies();
    expect(await status(c, t.access_token)).toBe(200);
    expect(verifies.calls()).toBe(1);
    expect(c.ring().verified.get(t.access_token)?.claims.sub).toBe(t.user.id);
    for (let i = 0; i < 3; i++) expect(await status(c, t.access_token)).toBe(200);
    expect(verifies.calls()).toBe(1);

    // The clock checks run on every hit, with the same leeway as a fresh verification.
    c.clock.advance(900 + 29);
    expect(await status(c, t.access_token)).toBe(200);
    c.clock.advance(2);
    const res = await c.request('GET', '/api/private', { token: t.access_token });
    expect(res.status).toBe(401);
    expect((await errorOf(res)).message).toBe('The access token has expired.');
    expect(c.ring().verified.get(t.access_token)).toBeUndefined();
  });

  it('a cached token is still refused after logout and after revocation of all sessions', async () => {
    const c = new Client(envFor(alg));
    const t = await c.signedUp();
    expect(await status(c, t.access_token)).toBe(200);
    expect(c.ring().verified.get(t.access_token)).toBeDefined();
    expect((await c.request('POST', '/auth/logout', { token: t.access_token })).status).toBe(204);
    expect(await status(c, t.access_token)).toBe(401);

    const second = await c.login(t.username, t.password);
    expect(await status(c, second.access_token)).toBe(200);
    expect(c.ring().verified.get(second.access_token)).toBeDefined();
    // Another isolate (its own ring and caches) ends every session: this one learns it from KV.
    const other = new Client(envFor(alg), c.clock);
    const third = await other.login(t.username, t.password);
    expect((await other.request('POST', '/auth/logout-all', { token: third.access_token })).status).toBe(204);
    c.clock.advance(6); // past this isolate's 5 s revocation cache, well inside the token's life
    expect(await status(c, second.access_token)).toBe(401);
  });

  it('a token differing by one character is verified afresh and refused', async () => {
    const c = new Client(envFor(alg));
    const t = await c.signedUp();
    expect(await status(c, t.access_token)).toBe(200);
    const [h, p, s] = t.access_token.split('.') as [string, string, string];
    const i = Math.floor(s.length / 2);
    const tampered = `${h}.${p}.${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
    const payloadTampered = `${h}.${p.slice(0, -2)}${p.at(-2) === 'A' ? 'B' : 'A'}${p.at(-1)}.${s}`;
    const verifies = countVerifies();
    for (const bad of [tampered, payloadTampered, `${t.access_token}A`, t.access_token.slice(0, -1)]) {
      expect(await status(c, bad)).toBe(401);
      expect(c.ring().verified.get(bad)).toBeUndefined(); // a refused token is never cached
    }
    expect(verifies.calls()).toBeGreaterThanOrEqual(2); // the two well-formed ones reached the signature check
    expect(await status(c, t.access_token)).toBe(200);
  });

  it('roles and the fresh lookup are checked on every cached request', async () => {
    const c = new Client(envFor(alg));
    const admin = await adminOf(c);
    expect(await status(c, admin.access_token, '/api/admin')).toBe(200);
    expect(c.ring().verified.get(admin.access_token)).toBeDefined();
    const user = await c.signedUp();
    expect(await status(c, user.access_token)).toBe(200);
    expect(await status(c, user.access_token, '/api/admin')).toBe(403);
    expect(await status(c, user.access_token, '/api/admin')).toBe(403);
    // /admin routes re-read the user (fresh): a demotion in D1 refuses the cached admin token at once.
    expect((await c.request('GET', '/admin/users', { token: admin.access_token })).status).toBe(200);
    await drizzle(c.env.DB).update(users).set({ roles: '[]' }).where(eq(users.id, admin.id)).run();
    expect((await c.request('GET', '/admin/users', { token: admin.access_token })).status).toBe(403);
  });

  it('a cached token stops at once when its key is retired past the overlap or deleted from the ring', async () => {
    const c = new Client(envFor(alg));
    const rotator = new Client(envFor(alg), c.clock); // another isolate: its rotation reaches c by reload
    const admin = await adminOf(rotator);
    const user = await c.signedUp();
    const oldKid = decodeProtectedHeader(user.access_token).kid!;
    const oldKey = await c.ring().signingKey(c.clock.seconds);
    // What a leaked retired key could sign: a token living past the overlap (signed when used,
    // with a current iat, since an older one is refused as too old).
    const longLived = async () => {
      const token = await new SignJWT({ ...payloadOf(user.access_token), iat: c.clock.seconds, exp: c.clock.seconds + 86_400 })
        .setProtectedHeader({ alg, kid: oldKid, typ: 'at+jwt' })
        .sign(oldKey.key);
      return alg === 'ES256' ? withLowS(token) : token;
    };

    const rotatedAt = c.clock.seconds;
    expect((await rotator.request('POST', '/admin/keys/rotate', { token: admin.access_token })).status).toBe(200);
    c.clock.seconds = rotatedAt + rotationOverlap(c.config) - 1;
    const late = await longLived();
    expect(await status(c, late)).toBe(200);
    expect(c.ring().verified.get(late)).toBeDefined();
    c.clock.seconds = rotatedAt + rotationOverlap(c.config);
    expect(await status(c, late)).toBe(401);
    expect(c.ring().verified.get(late)).toBeUndefined();

    // Emergency revocation of a key (docs/keys.md "A compromised key"): rotate, delete its row.
    const fresh = await c.login(user.username, user.password);
    const kid = decodeProtectedHeader(fresh.access_token).kid!;
    expect(await status(c, fresh.access_token)).toBe(200);
    expect(c.ring().verified.get(fresh.access_token)).toBeDefined();
    const admin2 = await rotator.login(admin.username, admin.password);
    expect((await rotator.request('POST', '/admin/keys/rotate', { token: admin2.access_token })).status).toBe(200);
    await c.env.DB.prepare('DELETE FROM signing_keys WHERE kid = ?').bind(kid).run();
    // The isolate's next key ring reload (CACHE_TTL_SECONDS, as without the cache) drops it.
    c.clock.advance(CACHE_TTL_SECONDS);
    expect(await status(c, fresh.access_token)).toBe(401);
    expect(c.ring().verified.size).toBe(0);
  });

  it('a rotation by this isolate drops its cache', async () => {
    const c = new Client(envFor(alg));
    const admin = await adminOf(c);
    const user = await c.signedUp();
    expect(await status(c, user.access_token)).toBe(200);
    expect(c.ring().verified.size).toBeGreaterThan(0);
    expect((await c.request('POST', '/admin/keys/rotate', { token: admin.access_token })).status).toBe(200);
    expect(c.ring().verified.get(user.access_token)).toBeUndefined();
    const verifies = countVerifies();
    expect(await status(c, user.access_token)).toBe(200); // verified afresh: its key still verifies (overlap)
    expect(verifies.calls()).toBe(1);
  });
});

describe('verified-token cache bounds', () => {
  const entry = (sub: string): VerifiedToken => ({
    claims: Object.freeze({ sub, username: sub, sid: sub, jti: sub, roles: [], iat: 0, exp: 1 }),
    kid: 'k',
    nbf: undefined,
  });

  it('holds at most its entry count, evicting the least recently used', () => {
    const cache = new VerifiedTokenCache(3, 1_000);
    for (const t of ['a.a.a', 'b.b.b', 'c.c.c']) cache.set(t, entry(t));
    expect(cache.get('a.a.a')).toBeDefined(); // a is now the most recently used
    cache.set('d.d.d', entry('d'));
    expect(cache.size).toBe(3);
    expect(cache.get('b.b.b')).toBeUndefined();
    for (const t of ['a.a.a', 'c.c.c', 'd.d.d']) expect(cache.get(t)).toBeDefined();
  });

  it('holds at most its character budget, and the defaults bound the memory whatever the tokens', () => {
    const cache = new VerifiedTokenCache(100, 25);
    for (let i = 0; i < 5; i++) cache.set(`${i}`.repeat(10), entry(`${i}`));
    expect(cache.size).toBe(2);
    expect(cache.heldChars).toBe(20);
    cache.set('x'.repeat(26), entry('x')); // larger than the whole budget: not held
    expect(cache.size).toBe(2);
    cache.delete('4'.repeat(10));
    expect(cache.heldChars).toBe(10);

    const defaults = new VerifiedTokenCache();
    const big = 'x'.repeat(4_000);
    for (let i = 0; i < VERIFIED_CACHE_ENTRIES + 500; i++) defaults.set(`${i}.${big}`, entry(`${i}`));
    expect(defaults.heldChars).toBeLessThanOrEqual(VERIFIED_CACHE_CHARS);
    expect(defaults.size).toBeLessThan(VERIFIED_CACHE_ENTRIES);
    const small = new VerifiedTokenCache();
    for (let i = 0; i < VERIFIED_CACHE_ENTRIES + 500; i++) small.set(`t.${i}.s`, entry(`${i}`));
    expect(small.size).toBe(VERIFIED_CACHE_ENTRIES);
    expect(small.get('t.0.s')).toBeUndefined();
    expect(small.get(`t.${VERIFIED_CACHE_ENTRIES + 499}.s`)).toBeDefined();
  });

  it('the ring holds no more than the bound under many distinct tokens', async () => {
    const c = new Client(envFor('HS256'));
    const ring = c.ring();
    const t = await c.signedUp();
    const key = await ring.signingKey(c.clock.seconds);
    const claims = payloadOf(t.access_token);
    // Real, distinct, valid tokens of one session: each verified and cached, the oldest evicted.
    const count = 60;
    const bounded = new VerifiedTokenCache(50, VERIFIED_CACHE_CHARS);
    Object.defineProperty(ring, 'verified', { value: bounded });
    for (let i = 0; i < count; i++) {
      const token = await new SignJWT({ ...claims, jti: `jti-${i}` }).setProtectedHeader({ alg: 'HS256', kid: key.kid, typ: 'at+jwt' }).sign(key.key);
      expect(await status(c, token)).toBe(200);
    }
    expect(bounded.size).toBe(50);
  });
});

describe('verified-token cache and a failing D1', () => {
  it('past the stale-keys bound a protected request is a 503 whether or not its token is cached', async () => {
    const faults = new Faults();
    const c = new Client(faultyEnv(testEnv(), faults));
    const cached = await c.signedUp();
    const uncached = await c.login(cached.username, cached.password);
    expect(await status(c, cached.access_token)).toBe(200);
    expect(c.ring().verified.get(cached.access_token)).toBeDefined();
    faults.d1 = 'error';
    c.clock.advance(STALE_KEYS_SECONDS + 1); // the last good key set is too old to serve
    for (const token of [cached.access_token, uncached.access_token]) {
      const res = await c.request('GET', '/api/private', { token });
      expect(res.status).toBe(503);
      expect((await errorOf(res)).error).toBe('temporarily_unavailable');
    }
    faults.heal();
  });
});
