// The outside audit of 2026-11 (docs/security.md "Audit findings"): one test per finding, each
// failing on the code before its fix. Findings 5 and 6 are about limits that production KV
// enforces and local KV does not, so KV is wrapped (test/bindings.ts) to count and refuse as
// production does.
import { env } from 'cloudflare:workers';
import { and, eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { fromB64url, b64url } from '../src/crypto/encoding';
import { isHighS, withLowS } from '../src/crypto/ecdsa';
import { auditLog, sessions, users } from '../src/db/schema';
import { usernameSkeleton } from '../src/lib/validation';
import { signAccessToken } from '../src/tokens/access';
import { REVOCATION_CACHE_SECONDS, sessionKey, userKey } from '../src/tokens/revocation';
import { SESSION_ENTRY_LIMIT } from '../src/tokens/revocation-plan';
import { RATE_LIMIT_PERIOD_SECONDS } from '../src/middleware/rate-limit';
import { instrumentedKv, interleavingD1 } from './bindings';
import { Browser, ORIGIN } from './browser';
import { Client, errorOf, inOneWindow, randomTestIp, testEnv, uniqueName, type TokenBody } from './helpers';

const PASSWORD = 'correct horse battery';

async function adminOf(c: Client): Promise<TokenBody & { id: string }> {
  const { id, username, password } = await c.register();
  await drizzle(c.env.DB).update(users).set({ roles: '["admin"]' }).where(eq(users.id, id)).run();
  return { ...(await c.login(username, password)), id };
}

async function status(c: Client, path: string, token: string): Promise<number> {
  return (await c.request('GET', path, { token })).status;
}

describe('finding 1: a fresh check reads the session in D1, not only the KV list', () => {
  it('an ended session is refused on fresh admin routes although its user now holds the role', async () => {
    const c = new Client(testEnv());
    // The attacker registered the name the operator later promotes; their token says roles [].
    const attacker = await c.signedUp();
    const victim = await c.signedUp();
    // What `user:create --update-existing --role admin` writes to D1 before its KV entries land.
    const db = drizzle(c.env.DB);
    await db.update(users).set({ roles: '["admin"]' }).where(eq(users.id, attacker.id)).run();
    await db.update(sessions).set({ revokedAt: c.clock.seconds, revokedReason: 'user_create_cli' }).where(eq(sessions.userId, attacker.id)).run();

    const list = await c.request('GET', '/admin/users', { token: attacker.access_token });
    expect(list.status).toBe(401);
    expect((await errorOf(list)).error).toBe('invalid_token');
    const promote = await c.request('PATCH', `/admin/users/${victim.id}`, { token: attacker.access_token, json: { roles: ['admin'] } });
    expect(promote.status).toBe(401);
    const [row] = await db.select({ roles: users.roles }).from(users).where(eq(users.id, victim.id));
    expect(row!.roles).toBe('[]');

    // The legitimate owner of the promoted account signs in again and is an administrator.
    const fresh = await c.login(attacker.username, attacker.password);
    expect(await status(c, '/admin/users', fresh.access_token)).toBe(200);
  });

  it('a token of a session whose row is gone is refused on fresh routes', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    await drizzle(c.env.DB).delete(sessions).where(eq(sessions.userId, admin.id)).run();
    expect(await status(c, '/admin/users', admin.access_token)).toBe(401);
  });
});

describe('finding 2: routes that verify a password are throttled', () => {
  it('per account: with the sign-in, the 11th password check within a minute is 429 whatever the address, and no audit flood', async () => {
    const c = new Client(testEnv());
    // The limiter counts in wall-clock windows: a burst that crossed an edge is run again with a fresh account.
    await inOneWindow(RATE_LIMIT_PERIOD_SECONDS, async () => {
      const u = await c.signedUp();
      const statuses: number[] = [];
      for (let i = 0; i < 14; i++) {
        const res = await c.request('POST', '/auth/password', { token: u.access_token, json: { current_password: `wrong ${i}`, new_password: 'another good password' } });
        statuses.push(res.status);
        if (res.status === 429) expect(res.headers.get('Retry-After')).toBe('60');
      }
      // Login and password change share the account's budget (RL_LOGIN_USER, 10 a minute): the
      // sign-in used one. Throttled calls hash nothing and write no audit row.
      expect(statuses.slice(0, 9)).toEqual(Array(9).fill(401));
      expect(statuses.slice(9)).toEqual(Array(5).fill(429));
      const rows = await drizzle(c.env.DB).select().from(auditLog).where(and(eq(auditLog.subjectId, u.id), eq(auditLog.event, 'password_change')));
      expect(rows.length).toBe(9);
    });
  });

  it('per address: the 21st password check from one address within a minute is 429', async () => {
    const c = new Client(testEnv());
    // The limiter counts in wall-clock windows: a burst that crossed an edge is run again, with
    // fresh accounts and a fresh address (the per-account budget must not be what trips).
    await inOneWindow(RATE_LIMIT_PERIOD_SECONDS, async () => {
      const accounts = [await c.signedUp(), await c.signedUp(), await c.signedUp()];
      const ip = randomTestIp();
      const statuses: number[] = [];
      for (let i = 0; i < 24; i++) {
        const u = accounts[i % 3]!;
        const res = await c.request('POST', '/auth/password', { token: u.access_token, json: { current_password: 'wrong', new_password: 'another good password' }, headers: { 'CF-Connecting-IP': ip } });
        statuses.push(res.status);
      }
      expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
      expect(statuses.slice(20)).toEqual([429, 429, 429, 429]);
    });
  });
});

describe('finding 3: look-alike usernames', () => {
  it('one account per skeleton: look-alikes get 409 username_taken', async () => {
    const c = new Client(testEnv());
    const tag = Math.random().toString(36).slice(2, 8).replace(/[01il]/g, 'x');
    for (const [first, lookAlike] of [['alice', 'aIice'], ['modern', 'rnodern'], ['bob0', 'bobO'], ['will', 'wiII'], ['dave', 'cIave'], ['wow', 'vvow']]) {
      expect((await c.request('POST', '/auth/register', { json: { username: `${first}_${tag}`, password: PASSWORD } })).status).toBe(201);
      const res = await c.request('POST', '/auth/register', { json: { username: `${lookAlike}_${tag}`, password: PASSWORD } });
      expect(res.status, lookAlike).toBe(409);
      expect((await errorOf(res)).error).toBe('username_taken');
    }
    // Different names still register.
    expect((await c.request('POST', '/auth/register', { json: { username: `alicia_${tag}`, password: PASSWORD } })).status).toBe(201);
  });

  it('the skeleton folds case and the look-alike classes', () => {
    expect(usernameSkeleton('aIice')).toBe(usernameSkeleton('alice'));
    expect(usernameSkeleton('A1ICE')).toBe(usernameSkeleton('alice'));
    expect(usernameSkeleton('rnodern')).toBe(usernameSkeleton('modern'));
    expect(usernameSkeleton('bobO')).toBe(usernameSkeleton('bob0'));
    expect(usernameSkeleton('alice')).not.toBe(usernameSkeleton('alise'));
  });
});

describe('finding 4: a cookie refresh passes the Origin rule whatever other headers it carries', () => {
  it('an Authorization header no longer switches the Origin check off', async () => {
    const b = new Browser(new Client(testEnv()));
    await b.signIn();
    for (const authorization of ['Bearer a.b.c', 'Basic dXNlcjpwYXNz']) {
      const res = await b.c.request('POST', '/auth/refresh', {
        headers: { Cookie: b.cookieHeader('/auth/refresh'), Origin: 'https://evil.example', 'X-CSRF-Token': b.csrf, Authorization: authorization },
      });
      expect(res.status, authorization).toBe(403);
      expect((await errorOf(res)).error).toBe('csrf_failed');
    }
    // The same request from the page's own origin still refreshes.
    const ok = await b.request('POST', '/auth/refresh', { headers: { Origin: ORIGIN, 'X-CSRF-Token': b.csrf, Authorization: 'Bearer a.b.c' } });
    expect(ok.status).toBe(200);
  });
});

/** Inserts `count` live sessions for a user in one statement (each used a minute ago). */
async function manySessions(c: Client, userId: string, count: number): Promise<void> {
  const now = c.clock.seconds;
  await c.env.DB.prepare(
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
     INSERT INTO sessions (id, user_id, generation, current_hash, created_at, last_used_at, refresh_expires_at, expires_at)
     SELECT ? || '-' || i, ?, 0, ? || '-hash-' || i, ?, ?, ?, ? FROM n`,
  )
    .bind(count, userId, userId, userId, now - 3600, now - 60, now + 86_400, now + 864_000)
    .run();
}

/** An access token of one of those sessions, as the service would have issued it a minute ago. */
async function tokenOfSession(c: Client, u: { id: string; username: string }, sessionId: string): Promise<string> {
  return (await signAccessToken(c.ring(), c.config, { userId: u.id, username: u.username, sessionId, roles: [] }, c.clock.seconds - 60)).token;
}

describe('finding 5: mass revocation costs O(1) KV operations', () => {
  const SESSIONS = 5_000;
  const cases: [string, (c: Client, u: TokenBody & { id: string }, admin: TokenBody) => Promise<Response>, boolean][] = [
    ['logout-all', (c, u) => c.request('POST', '/auth/logout-all', { token: u.access_token }), false],
    ['password change', (c, u) => c.request('POST', '/auth/password', { token: u.access_token, json: { current_password: PASSWORD, new_password: 'a brand new password' } }), true],
    ['admin disable', (c, u, admin) => c.request('PATCH', `/admin/users/${u.id}`, { token: admin.access_token, json: { disabled: true } }), false],
    ['admin delete', (c, u, admin) => c.request('DELETE', `/admin/users/${u.id}`, { token: admin.access_token }), false],
  ];

  it.each(cases)('%s for a user with 5,000 sessions: a bounded number of KV operations, every old token refused', async (_name, act, callerKept) => {
    const real = new Client(testEnv());
    const admin = await adminOf(real);
    const u = { ...(await real.signedUp()) };
    await manySessions(real, u.id, SESSIONS);
    const old = await tokenOfSession(real, u, `${u.id}-4242`);
    expect(await status(real, '/api/private', old)).toBe(200);

    const counted = instrumentedKv(env.KV, { writeIntervalMs: 1000 });
    const c = new Client({ ...testEnv(), KV: counted.kv }, real.clock);
    const res = await act(c, u, admin);
    expect(res.status).toBeLessThan(300);
    // One KV read to authenticate the caller, one read and one write of the user cutoff, at most
    // SESSION_ENTRY_LIMIT session entries; production refuses more than about 1,000 per invocation.
    expect(counted.stats.total()).toBeLessThanOrEqual(SESSION_ENTRY_LIMIT + 3);
    expect(counted.stats.refused).toBe(0);

    real.clock.advance(REVOCATION_CACHE_SECONDS + 1); // past every isolate's "not revoked" cache
    expect(await status(real, '/api/private', old)).toBe(401);
    expect(await status(real, '/api/private', u.access_token)).toBe(callerKept ? 200 : 401);
  });

  it('a new sign-in after the cutoff is not refused by it', async () => {
    const c = new Client(testEnv());
    const u = await c.signedUp();
    await manySessions(c, u.id, 50);
    expect((await c.request('POST', '/auth/logout-all', { token: u.access_token })).status).toBe(204);
    c.clock.advance(1);
    const again = await c.login(u.username, u.password);
    c.clock.advance(REVOCATION_CACHE_SECONDS + 1);
    expect(await status(c, '/api/private', again.access_token)).toBe(200);
    expect(await c.env.KV.get(userKey(u.id))).not.toBeNull();
  });
});

describe('finding 6: a write that KV refuses (one per second per key) is not a 5xx', () => {
  it('logout then logout-all within a second: 204, and both sessions are on the list', async () => {
    const kv = instrumentedKv(env.KV, { writeIntervalMs: 1000 });
    const c = new Client({ ...testEnv(), KV: kv.kv });
    const u = await c.signedUp();
    const second = await c.login(u.username, u.password);
    expect((await c.request('POST', '/auth/logout', { token: u.access_token })).status).toBe(204);
    const res = await c.request('POST', '/auth/logout-all', { token: second.access_token });
    expect(res.status).toBe(204);
    expect(kv.stats.refused).toBeGreaterThan(0); // the repair rewrite of the first entry was refused, then retried
    const [first, other] = await Promise.all([decodeSid(u.access_token), decodeSid(second.access_token)]);
    expect(await env.KV.get(sessionKey(first))).not.toBeNull();
    expect(await env.KV.get(sessionKey(other))).not.toBeNull();
  });

  it('two mass revocations of one user within a second: both succeed and the cutoff keeps the later, stricter one', async () => {
    const kv = instrumentedKv(env.KV, { writeIntervalMs: 1000 });
    const c = new Client({ ...testEnv(), KV: kv.kv });
    const u = await c.signedUp();
    await manySessions(c, u.id, 40);
    const change = await c.request('POST', '/auth/password', { token: u.access_token, json: { current_password: PASSWORD, new_password: 'a brand new password' } });
    expect(change.status).toBe(204);
    expect(JSON.parse((await env.KV.get(userKey(u.id)))!)).toMatchObject({ except: await decodeSid(u.access_token) });
    const all = await c.request('POST', '/auth/logout-all', { token: u.access_token });
    expect(all.status).toBe(204);
    expect(kv.stats.refused).toBe(1);
    // The caller's session, spared by the password change, is not spared by logout-all.
    expect(JSON.parse((await env.KV.get(userKey(u.id)))!)).not.toHaveProperty('except');
    const fresh = new Client(testEnv(), c.clock);
    expect(await status(fresh, '/api/private', u.access_token)).toBe(401);
  });

  it('a KV that refuses every write: the revocation still answers 204 (D1 decided; tokens die at expiry)', async () => {
    const kv = instrumentedKv(env.KV, { refuseWrites: (key) => key.startsWith('revoked:') });
    const c = new Client({ ...testEnv(), KV: kv.kv });
    const u = await c.signedUp();
    const res = await c.request('POST', '/auth/logout', { token: u.access_token, json: { refresh_token: u.refresh_token } });
    expect(res.status).toBe(204);
    expect((await c.request('POST', '/auth/refresh', { json: { refresh_token: u.refresh_token } })).status).toBe(401);
  });
});

async function decodeSid(token: string): Promise<string> {
  return (JSON.parse(new TextDecoder().decode(fromB64url(token.split('.')[1]!))) as { sid: string }).sid;
}

describe('finding 7: concurrent admin changes decide from what the update changed', () => {
  it('a disable racing with an enable and a new sign-in still ends that sign-in', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    const u = await c.signedUp();
    const orm = drizzle(env.DB);
    await orm.update(users).set({ disabled: true }).where(eq(users.id, u.id)).run();

    let signedIn: TokenBody | undefined;
    // Between admin A's read of the user and A's update: admin B enables the user, who signs in.
    const raced = interleavingD1(env.DB, /^update "users"/i, async () => {
      await orm.update(users).set({ disabled: false }).where(eq(users.id, u.id)).run();
      signedIn = await c.login(u.username, u.password);
    });
    const a = new Client({ ...testEnv(), DB: raced.db }, c.clock);
    const res = await a.request('PATCH', `/admin/users/${u.id}`, { token: admin.access_token, json: { disabled: true } });
    expect(res.status).toBe(200);
    expect(raced.fired()).toBe(true);

    const sid = await decodeSid(signedIn!.access_token);
    const [row] = await orm.select({ revokedAt: sessions.revokedAt }).from(sessions).where(eq(sessions.id, sid));
    expect(row!.revokedAt).not.toBeNull();
    c.clock.advance(REVOCATION_CACHE_SECONDS + 1);
    expect(await status(c, '/api/private', signedIn!.access_token)).toBe(401);
    const [audit] = await orm.select().from(auditLog).where(and(eq(auditLog.subjectId, u.id), eq(auditLog.event, 'user_disable')));
    expect(audit).toBeDefined();
  });
});

describe('smaller points', () => {
  async function serviceToken(c: Client, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
    const key = await c.ring().signingKey(c.clock.seconds);
    const token = await new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header }).sign(key.key);
    return withLowS(token);
  }

  function claimsOf(c: Client, u: TokenBody): Record<string, unknown> {
    return { ...(JSON.parse(new TextDecoder().decode(fromB64url(u.access_token.split('.')[1]!))) as Record<string, unknown>), iat: c.clock.seconds, exp: c.clock.seconds + 600 };
  }

  it('ECDSA: issued tokens are low-S, and the high-S twin of a valid token is refused', async () => {
    const c = new Client(testEnv({ JWT_ALG: 'ES256' }));
    const u = await c.signedUp();
    for (let i = 0; i < 32; i++) {
      const t = (await signAccessToken(c.ring(), c.config, { userId: u.id, username: u.username, sessionId: 'any', roles: [] }, c.clock.seconds)).token;
      expect(isHighS(fromB64url(t.split('.')[2]!))).toBe(false); // about half would be high without the normalisation
    }
    expect(await status(c, '/api/private', u.access_token)).toBe(200);
    // (r, n - s): the same signature in the other half, which WebCrypto accepts.
    const [h, p, s] = u.access_token.split('.') as [string, string, string];
    const sig = fromB64url(s);
    const n = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
    let sValue = 0n;
    for (const byte of sig.subarray(32)) sValue = (sValue << 8n) | BigInt(byte);
    let twin = n - sValue;
    const out = new Uint8Array(sig);
    for (let i = 63; i >= 32; i--) {
      out[i] = Number(twin & 0xffn);
      twin >>= 8n;
    }
    const key = await c.ring().verifyKey(JSON.parse(atob(h.replace(/-/g, '+').replace(/_/g, '/'))).kid, c.clock.seconds);
    expect(await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key as CryptoKey, out, new TextEncoder().encode(`${h}.${p}`))).toBe(true);
    expect(await status(c, '/api/private', `${h}.${p}.${b64url(out)}`)).toBe(401);
  });

  it('a validly signed token older than the access lifetime is refused whatever its exp', async () => {
    const c = new Client(testEnv());
    const u = await c.signedUp();
    const limit = c.config.accessTtl + c.config.leeway;
    const atLimit = await serviceToken(c, { ...claimsOf(c, u), iat: c.clock.seconds - limit, exp: c.clock.seconds + 60 });
    expect(await status(c, '/api/private', atLimit)).toBe(200);
    const tooOld = await serviceToken(c, { ...claimsOf(c, u), iat: c.clock.seconds - limit - 1, exp: c.clock.seconds + 60 });
    const res = await c.request('GET', '/api/private', { token: tooOld });
    expect(res.status).toBe(401);
    expect((await errorOf(res)).message).toBe('The access token is too old.');
  });

  it('validly signed tokens with a future nbf or iat, or a wrong typ, are refused', async () => {
    const c = new Client(testEnv());
    const u = await c.signedUp();
    const base = claimsOf(c, u);
    const future = c.clock.seconds + c.config.leeway + 60;
    for (const token of [
      await serviceToken(c, { ...base, nbf: future }),
      await serviceToken(c, { ...base, iat: future, exp: future + 600 }),
      await serviceToken(c, base, { typ: 'JWT' }),
      await serviceToken(c, base, { typ: 'edge-auth-assertion+jwt' }),
    ]) {
      expect(await status(c, '/api/private', token)).toBe(401);
    }
    expect(await status(c, '/api/private', await serviceToken(c, base))).toBe(200);
  });

  it('validly signed tokens carrying x5u or x5c (a key of their own) are refused', async () => {
    const c = new Client(testEnv());
    const u = await c.signedUp();
    const base = claimsOf(c, u);
    // A self-signed certificate would do as well: the header is refused whatever it holds.
    const cert = btoa('not a certificate, and never fetched or parsed');
    for (const header of [{ x5u: 'https://evil.example/cert.pem' }, { x5c: [cert] }, { x5u: 'https://evil.example/cert.pem', x5c: [cert] }]) {
      expect(await status(c, '/api/private', await serviceToken(c, base, header))).toBe(401);
    }
    expect(await status(c, '/api/private', await serviceToken(c, base))).toBe(200);
  });

  it('passwords with lone UTF-16 surrogates are refused as invalid input', async () => {
    const c = new Client(testEnv());
    const name = uniqueName('surr');
    for (const password of ['abc\uD800defghij', 'abcdefghij\uDC00', '\uDFFFabcdefghij']) {
      const reg = await c.request('POST', '/auth/register', { json: { username: name, password } });
      expect(reg.status).toBe(400);
      expect((await errorOf(reg)).error).toBe('invalid_request');
    }
    const u = await c.signedUp();
    expect((await c.request('POST', '/auth/login', { json: { username: u.username, password: 'abc\uD800defghij' } })).status).toBe(400);
    const change = await c.request('POST', '/auth/password', { token: u.access_token, json: { current_password: PASSWORD, new_password: 'abc\uDBFFdefghij' } });
    expect(change.status).toBe(400);
    // A proper pair (an emoji) is fine.
    expect((await c.request('POST', '/auth/register', { json: { username: uniqueName('emoji'), password: 'pass \uD83D\uDD11 word' } })).status).toBe(201);
  });
});
