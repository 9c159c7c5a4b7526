// Users, login, access tokens, requireAuth; every case runs for HS256 and ES256.
import { exportJWK, generateKeyPair, SignJWT, decodeProtectedHeader, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { drizzle } from 'drizzle-orm/d1';
import { eq } from 'drizzle-orm';
import { users } from '../src/db/schema';
import { withLowS } from '../src/crypto/ecdsa';
import { hashPassword } from '../src/crypto/password';
import { Client, errorOf, testEnv, type Alg } from './helpers';

const ALGS: Alg[] = ['ES256', 'HS256'];

function b64url(text: string): string {
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

describe.each(ALGS)('core with %s', (alg) => {
  const client = () => new Client(testEnv({ JWT_ALG: alg }));

  /** Signs claims with the service's own current key: for tokens whose only flaw is a claim. */
  async function signWithServiceKey(c: Client, claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
    const key = await c.ring().signingKey(c.clock.seconds);
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header })
      .sign(key.key);
    // As the service signs: ES256 signatures in the low-S half (src/crypto/ecdsa.ts), so a case
    // fails for its claim, not for a high-S signature.
    return key.alg === 'ES256' ? withLowS(token) : token;
  }

  function baseClaims(c: Client, token: string): Record<string, unknown> {
    const payload = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>;
    return { ...payload, iat: c.clock.seconds, exp: c.clock.seconds + 600 };
  }

  async function expectInvalid(c: Client, token: string) {
    const res = await c.request('GET', '/api/private', { token });
    expect(res.status).toBe(401);
    expect((await errorOf(res)).error).toBe('invalid_token');
    expect(res.headers.get('WWW-Authenticate')).toMatch(/^Bearer realm="edge-auth", error="invalid_token"/);
  }

  it('register -> login -> me -> private', async () => {
    const c = client();
    const reg = await c.request('POST', '/auth/register', { json: { username: 'Alice_' + alg, password: 'correct horse battery', email: 'a@example.com' } });
    expect(reg.status).toBe(201);
    const { user } = (await reg.json()) as { user: Record<string, unknown> };
    expect(Object.keys(user).sort()).toEqual(['created_at', 'email', 'email_verified', 'id', 'roles', 'username']);
    expect(user).toMatchObject({ username: 'Alice_' + alg, email: 'a@example.com', roles: [] });
    expect(reg.headers.get('Cache-Control')).toBe('no-store');

    const login = await c.request('POST', '/auth/login', { json: { username: 'alice_' + alg.toLowerCase(), password: 'correct horse battery' } });
    expect(login.status).toBe(200);
    expect(login.headers.get('Cache-Control')).toBe('no-store');
    const tokens = (await login.json()) as Record<string, unknown>;
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 900, refresh_expires_in: 1209600, user: { id: user.id } });
    expect(typeof tokens.access_token).toBe('string');
    expect(tokens.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const header = decodeProtectedHeader(tokens.access_token as string);
    expect(header).toMatchObject({ alg, typ: 'at+jwt' });
    expect(typeof header.kid).toBe('string');

    const me = await c.request('GET', '/auth/me', { token: tokens.access_token as string });
    expect(me.status).toBe(200);
    expect(me.headers.get('Cache-Control')).toBe('no-store');
    expect(await me.json()).toEqual({ user });

    const priv = await c.request('GET', '/api/private', { token: tokens.access_token as string });
    expect(priv.status).toBe(200);
    expect(await priv.json()).toEqual({ message: expect.any(String), user: { id: user.id, username: user.username, roles: [] } });
  });

  it('access token carries the documented claims', async () => {
    const c = client();
    const t = await c.signedUp();
    const claims = baseClaims(c, t.access_token);
    const payload = JSON.parse(atob(t.access_token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>;
    expect(payload).toMatchObject({ iss: 'http://localhost:8787', aud: 'edge-auth', sub: t.user.id, roles: [], username: t.username });
    expect(payload.exp).toBe((payload.iat as number) + 900);
    expect(typeof payload.jti).toBe('string');
    expect(typeof payload.sid).toBe('string');
    expect(claims.sid).toBe(payload.sid);
  });

  it('refuses a duplicate username in another case with 409', async () => {
    const c = client();
    const { username } = await c.register(`Bob_${alg}`);
    const res = await c.request('POST', '/auth/register', { json: { username: username.toUpperCase(), password: 'another password' } });
    expect(res.status).toBe(409);
    expect(await errorOf(res)).toEqual({ error: 'username_taken', message: expect.any(String) });
  });

  it('refuses full-width look-alikes of an existing username (NFKC)', async () => {
    const c = client();
    await c.register(`carol${alg}`);
    const lookAlike = `ｃａｒｏｌ${alg}`; // full-width letters
    const res = await c.request('POST', '/auth/register', { json: { username: lookAlike, password: 'another password' } });
    expect(res.status).toBe(409);
  });

  it('answers a wrong password and an unknown user with the same 401 body', async () => {
    const c = client();
    const { username } = await c.register();
    const wrong = await c.request('POST', '/auth/login', { json: { username, password: 'not the password' } });
    const unknown = await c.request('POST', '/auth/login', { json: { username: 'nobody_here_' + alg, password: 'not the password' } });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const a = await wrong.json();
    expect(a).toEqual(await unknown.json());
    expect(a).toEqual({ error: 'invalid_credentials', message: expect.any(String) });
  });

  it('admin route: 403 insufficient_scope for a plain user, 200 for an admin', async () => {
    const c = client();
    const plain = await c.signedUp();
    const res = await c.request('GET', '/api/admin', { token: plain.access_token });
    expect(res.status).toBe(403);
    expect((await errorOf(res)).error).toBe('insufficient_scope');
    expect(res.headers.get('WWW-Authenticate')).toContain('error="insufficient_scope"');

    const admin = await c.register();
    await drizzle(c.env.DB).update(users).set({ roles: '["admin"]' }).where(eq(users.id, admin.id)).run();
    const tokens = await c.login(admin.username, admin.password);
    expect(tokens.user.roles).toEqual(['admin']);
    const ok = await c.request('GET', '/api/admin', { token: tokens.access_token });
    expect(ok.status).toBe(200);
  });

  it('401 without a token carries the bare challenge (RFC 6750 section 3)', async () => {
    const c = client();
    const res = await c.request('GET', '/api/private');
    expect(res.status).toBe(401);
    expect(res.headers.get('WWW-Authenticate')).toBe('Bearer realm="edge-auth"');
    expect((await errorOf(res)).error).toBe('unauthorized');
  });

  it('accepts a case-insensitive scheme and refuses malformed Authorization headers', async () => {
    const c = client();
    const t = await c.signedUp();
    expect((await c.request('GET', '/api/private', { headers: { Authorization: `bEaReR ${t.access_token}` } })).status).toBe(200);
    for (const value of [`Bearer ${t.access_token} ${t.access_token}`, `Bearer ${t.access_token}, Bearer x`, 'Bearer', `Bearer  ${'a'.repeat(9000)}`]) {
      const res = await c.request('GET', '/api/private', { headers: { Authorization: value } });
      expect(res.status).toBe(401);
    }
    expect((await c.request('GET', '/api/private', { headers: { Authorization: 'Basic YTpi' } })).status).toBe(401);
  });

  it('expires tokens by the clock, with leeway', async () => {
    const c = client();
    const t = await c.signedUp();
    c.clock.advance(900 + 29); // inside the 30 s leeway
    expect((await c.request('GET', '/api/private', { token: t.access_token })).status).toBe(200);
    c.clock.advance(2);
    await expectInvalid(c, t.access_token);
  });

  it('refuses a tampered payload and a tampered signature', async () => {
    const c = client();
    const t = await c.signedUp();
    const [h, p, s] = t.access_token.split('.') as [string, string, string];
    const claims = JSON.parse(atob(p.replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>;
    const tamperedPayload = `${h}.${b64url(JSON.stringify({ ...claims, roles: ['admin'] }))}.${s}`;
    await expectInvalid(c, tamperedPayload);
    const flipped = s[5] === 'A' ? 'B' : 'A';
    await expectInvalid(c, `${h}.${p}.${s.slice(0, 5)}${flipped}${s.slice(6)}`);
  });

  it('refuses wrong iss, wrong aud, missing kid and alg none', async () => {
    const c = client();
    const t = await c.signedUp();
    const claims = baseClaims(c, t.access_token);
    await expectInvalid(c, await signWithServiceKey(c, { ...claims, iss: 'https://evil.example' }));
    await expectInvalid(c, await signWithServiceKey(c, { ...claims, aud: 'another-api' }));
    // the control: the same construction with good claims passes
    expect((await c.request('GET', '/api/private', { token: await signWithServiceKey(c, claims) })).status).toBe(200);

    const key = await c.ring().signingKey(c.clock.seconds);
    const noKid = await new SignJWT(claims).setProtectedHeader({ alg: key.alg, typ: 'at+jwt' }).sign(key.key);
    await expectInvalid(c, noKid);

    const none = `${b64url(JSON.stringify({ alg: 'none', kid: key.kid, typ: 'at+jwt' }))}.${b64url(JSON.stringify(claims))}.`;
    await expectInvalid(c, none);
    await expectInvalid(c, `${none}AAAA`);
  });

  it('refuses a token signed by another key that claims our kid', async () => {
    const c = client();
    const t = await c.signedUp();
    const { kid } = decodeProtectedHeader(t.access_token);
    const claims = baseClaims(c, t.access_token);
    const forged =
      alg === 'ES256'
        ? await new SignJWT(claims).setProtectedHeader({ alg, kid: kid!, typ: 'at+jwt' }).sign((await generateKeyPair('ES256')).privateKey)
        : await new SignJWT(claims).setProtectedHeader({ alg, kid: kid!, typ: 'at+jwt' }).sign(crypto.getRandomValues(new Uint8Array(32)));
    await expectInvalid(c, forged);
  });

  it('refuses a token carrying its own jwk or jku', async () => {
    const c = client();
    const t = await c.signedUp();
    const { kid } = decodeProtectedHeader(t.access_token);
    const claims = baseClaims(c, t.access_token);
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = await exportJWK(publicKey);
    const withJwk = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: kid!, typ: 'at+jwt', jwk }).sign(privateKey);
    await expectInvalid(c, withJwk);
    const withJku = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: kid!, typ: 'at+jwt', jku: 'https://evil.example/jwks.json' })
      .sign(privateKey);
    await expectInvalid(c, withJku);
    // Even signed with our own key, a token that brings a key is refused.
    const ownKeyWithJku = await signWithServiceKey(c, claims, { jku: 'https://evil.example/jwks.json' });
    await expectInvalid(c, ownKeyWithJku);
  });

  it('refuses a token of the other algorithm', async () => {
    const c = client();
    const t = await c.signedUp();
    const { kid } = decodeProtectedHeader(t.access_token);
    const claims = baseClaims(c, t.access_token);
    const other =
      alg === 'ES256'
        ? await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: kid!, typ: 'at+jwt' }).sign(crypto.getRandomValues(new Uint8Array(32)))
        : await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: kid!, typ: 'at+jwt' }).sign((await generateKeyPair('ES256')).privateKey);
    await expectInvalid(c, other);
  });

  it('JWKS publishes no private or secret members', async () => {
    const c = client();
    await c.signedUp();
    const res = await c.request('GET', '/.well-known/jwks.json');
    expect(res.status).toBe(200);
    const { keys } = (await res.json()) as { keys: JWK[] };
    if (alg === 'HS256') {
      expect(keys).toEqual([]);
    } else {
      expect(keys.length).toBeGreaterThanOrEqual(1);
      for (const key of keys) {
        expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: expect.any(String) });
        for (const secret of ['d', 'k', 'p', 'q', 'dp', 'dq', 'qi']) expect(key).not.toHaveProperty(secret);
      }
    }
  });
});

describe('algorithm confusion', () => {
  it('refuses an HS256 token forged with the ES256 public key as the HMAC secret', async () => {
    const c = new Client(testEnv({ JWT_ALG: 'ES256' }));
    const t = await c.signedUp();
    const { keys } = (await (await c.request('GET', '/.well-known/jwks.json')).json()) as { keys: JWK[] };
    const pub = keys[0]!;
    const claims = JSON.parse(atob(t.access_token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>;
    const enc = new TextEncoder();
    for (const secret of [JSON.stringify(pub), `${pub.x}${pub.y}`]) {
      const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: pub.kid!, typ: 'at+jwt' }).sign(enc.encode(secret));
      const res = await c.request('GET', '/api/private', { token: forged });
      expect(res.status).toBe(401);
    }
  });
});

describe('passwords', () => {
  it('stores an argon2id PHC string, never the password', async () => {
    const c = new Client(testEnv());
    const { id } = await c.register(undefined, 'a very secret password');
    const row = await drizzle(c.env.DB).select().from(users).where(eq(users.id, id)).get();
    expect(row!.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
    expect(row!.passwordHash).not.toContain('a very secret password');
  });

  it('upgrades a hash made with older parameters on the next login', async () => {
    const c = new Client(testEnv());
    const { id, username, password } = await c.register();
    const weak = await hashPassword(password, { m: 1024, t: 1, p: 1 });
    await drizzle(c.env.DB).update(users).set({ passwordHash: weak }).where(eq(users.id, id)).run();
    await c.login(username, password);
    const row = await drizzle(c.env.DB).select().from(users).where(eq(users.id, id)).get();
    expect(row!.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    await c.login(username, password); // and the new hash verifies
  });

  it('verifies and upgrades a hash with another tag length (imported from another system)', async () => {
    const c = new Client(testEnv());
    const { id, username, password } = await c.register();
    const imported = await hashPassword(password, { m: 19456, t: 2, p: 1 }, 16);
    expect(imported.split('$').pop()!.length).toBe(22); // 16 bytes, unpadded base64
    await drizzle(c.env.DB).update(users).set({ passwordHash: imported }).where(eq(users.id, id)).run();
    expect((await c.request('POST', '/auth/login', { json: { username, password: 'not the password' } })).status).toBe(401);
    await c.login(username, password);
    const row = await drizzle(c.env.DB).select().from(users).where(eq(users.id, id)).get();
    expect(row!.passwordHash.split('$').pop()!.length).toBe(43); // upgraded to 32 bytes
  });

  it('enforces the documented limits', async () => {
    const c = new Client(testEnv());
    const cases: [unknown, string][] = [
      [{ username: 'ab', password: 'long enough pw' }, 'invalid_request'],
      [{ username: 'a'.repeat(65), password: 'long enough pw' }, 'invalid_request'],
      [{ username: 'has space', password: 'long enough pw' }, 'invalid_request'],
      [{ username: '-leading', password: 'long enough pw' }, 'invalid_request'],
      [{ username: 'valid_name', password: 'short' }, 'invalid_request'],
      [{ username: 'valid_name', password: 'x'.repeat(1025) }, 'invalid_request'],
      [{ username: 'valid_name', password: 'é'.repeat(513) }, 'invalid_request'], // 1026 bytes
      [{ username: 'valid_name', password: 12345678 }, 'invalid_request'],
      [{ username: 'valid_name', password: 'long enough pw', email: 'not-an-email' }, 'invalid_request'],
      [{ username: 'valid_name', password: 'long enough pw', admin: true }, 'invalid_request'],
    ];
    for (const [json, code] of cases) {
      const res = await c.request('POST', '/auth/register', { json });
      expect(res.status, JSON.stringify(json).slice(0, 80)).toBe(400);
      expect((await errorOf(res)).error).toBe(code);
    }
    expect((await c.request('POST', '/auth/register', { json: { username: 'valid_name', password: 'é'.repeat(512) } })).status).toBe(201);
  });
});

describe('bad input is a 4xx JSON error', () => {
  const c = () => new Client(testEnv());
  it('malformed JSON -> 400 invalid_json', async () => {
    const res = await c().request('POST', '/auth/login', { body: '{"username":', headers: { 'Content-Type': 'application/json' } });
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toEqual({ error: 'invalid_json', message: expect.any(String) });
  });
  it('wrong content type -> 415', async () => {
    const res = await c().request('POST', '/auth/login', { body: 'username=a&password=b', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(415);
    expect((await errorOf(res)).error).toBe('unsupported_media_type');
  });
  it('oversized body -> 413', async () => {
    const res = await c().request('POST', '/auth/register', { json: { username: 'x', password: 'y'.repeat(20_000) } });
    expect(res.status).toBe(413);
    expect((await errorOf(res)).error).toBe('payload_too_large');
  });
  it('non-object JSON and missing fields -> 400', async () => {
    for (const body of ['[]', '"text"', '42', 'null', '{}', '{"username":"abc"}']) {
      const res = await c().request('POST', '/auth/login', { body, headers: { 'Content-Type': 'application/json' } });
      expect(res.status, body).toBe(400);
      expect((await errorOf(res)).error).toBe('invalid_request');
    }
  });
  it('unknown routes -> 404 JSON', async () => {
    const res = await c().request('GET', '/nope');
    expect(res.status).toBe(404);
    expect((await errorOf(res)).error).toBe('not_found');
  });
  it('health', async () => {
    const res = await c().request('GET', '/health');
    expect(await res.json()).toEqual({ status: 'ok' });
  });
});
