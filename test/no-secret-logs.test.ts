// No secret leaves. Everything the Worker writes to the console during a realistic flow
// (and its forced internal errors) is captured inside workerd and searched for every password,
// token, refresh token, hash and key involved; so are error bodies and the audit log.
import { drizzle } from 'drizzle-orm/d1';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { eq } from 'drizzle-orm';
import { decryptSecret } from '../src/crypto/encrypt';
import { describeError } from '../src/lib/log';
import { auditLog, sessions, signingKeys, users } from '../src/db/schema';
import { LOCKOUT_THRESHOLD } from '../src/db/lockout';
import { CapturedMail, tokenIn, verifiedUser } from './email-helpers';
import { Client, testEnv, uniqueName, type Alg } from './helpers';

const METHODS = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;
let captured: string[] = [];

beforeEach(() => {
  captured = [];
  for (const method of METHODS) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      captured.push(args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? `${a.name}: ${a.message}\n${a.stack}` : JSON.stringify(a))).join(' '));
    });
  }
});
afterEach(() => vi.restoreAllMocks());

/** Every secret, plus its distinctive parts (a JWT's payload and signature, a long value's ends). */
function needles(secrets: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const s of secrets) {
    if (!s) continue;
    out.add(s);
    // A JWT's first segment is its public header, the same in every token: not a needle.
    for (const part of s.split('.').slice(s.split('.').length === 3 ? 1 : 0)) if (part.length >= 16) out.add(part);
    if (s.length >= 32) out.add(s.slice(0, 24)).add(s.slice(-24));
  }
  return [...out];
}

function leaks(haystack: string, secrets: Iterable<string>): string[] {
  return needles(secrets).filter((n) => haystack.includes(n));
}

describe.each(['ES256', 'HS256'] as Alg[])('with %s', (alg) => {
  it('a realistic flow with errors logs no password, token, refresh token, hash or key', async () => {
    const env = testEnv({ JWT_ALG: alg });
    // The flow signs in and checks passwords more than the per-account throttle's 10 a minute
    // (login and password change share it); this test is about logs, test/rate-limit.test.ts and
    // test/audit-findings.test.ts about the throttle.
    const admitAll = { limit: async () => ({ success: true }) } as unknown as RateLimit;
    const c = new Client({ ...env, RL_LOGIN_USER: admitAll });
    const secrets = new Set<string>([env.JWT_SECRET!, env.KEY_ENCRYPTION_KEY!]);
    const bodies: string[] = []; // every error body the flow received
    const req = async (method: string, path: string, options: Parameters<Client['request']>[2] = {}) => {
      const res = await c.request(method, path, options);
      if (res.status >= 400) bodies.push(await res.clone().text());
      return res;
    };

    // Register, log in both ways, use and rotate the tokens.
    const username = uniqueName('leak');
    const password = `pw-${crypto.randomUUID()}`;
    const newPassword = `pw2-${crypto.randomUUID()}`;
    const wrong = `wrong-${crypto.randomUUID()}`;
    secrets.add(password).add(newPassword).add(wrong);
    expect((await req('POST', '/auth/register', { json: { username, password, email: 'leak@example.com' } })).status).toBe(201);
    const login = (await (await req('POST', '/auth/login', { json: { username, password } })).json()) as { access_token: string; refresh_token: string };
    secrets.add(login.access_token).add(login.refresh_token);
    const cookieLogin = await req('POST', '/auth/login', { json: { username, password, mode: 'cookie' }, headers: { Origin: 'http://localhost' } });
    for (const cookie of cookieLogin.headers.getSetCookie()) secrets.add(cookie.split(';')[0]!.split('=')[1]!);
    expect((await req('GET', '/auth/me', { token: login.access_token })).status).toBe(200);
    expect((await req('GET', '/auth/sessions', { token: login.access_token })).status).toBe(200);
    const rotated = (await (await req('POST', '/auth/refresh', { json: { refresh_token: login.refresh_token } })).json()) as { access_token: string; refresh_token: string };
    secrets.add(rotated.access_token).add(rotated.refresh_token);

    // Client errors of every kind, with secrets in the request.
    await req('POST', '/auth/login', { json: { username, password: wrong } });
    await req('POST', '/auth/login', { json: { username: uniqueName('ghost'), password } });
    await req('POST', '/auth/login', { json: { username, password, extra: password } });
    await req('POST', '/auth/login', { body: `{"username":"${username}","password":"${password}"`, headers: { 'Content-Type': 'application/json' } });
    await req('POST', '/auth/login', { body: `username=${username}&password=${password}`, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    await req('POST', '/auth/register', { json: { username, password: wrong.repeat(100) } });
    await req('GET', '/api/private', { token: `${login.access_token}x` });
    await req('GET', '/api/admin', { token: rotated.access_token });
    await req('POST', '/auth/refresh', { json: { refresh_token: `${rotated.refresh_token}x` } });
    await req('POST', '/auth/password', { token: rotated.access_token, json: { current_password: wrong, new_password: newPassword } });
    expect((await req('POST', '/auth/password', { token: rotated.access_token, json: { current_password: password, new_password: newPassword } })).status).toBe(204);
    c.clock.advance(60);
    await req('POST', '/auth/refresh', { json: { refresh_token: login.refresh_token } }); // replay: the session is revoked
    for (let i = 0; i < LOCKOUT_THRESHOLD; i++) await req('POST', '/auth/login', { json: { username, password: wrong } });
    const again = await c.login(username, newPassword).catch(() => undefined); // locked: refused
    expect(again).toBeUndefined();
    c.clock.advance(3600);
    const fresh = await c.login(username, newPassword);
    secrets.add(fresh.access_token).add(fresh.refresh_token);
    expect((await req('POST', '/auth/logout', { token: fresh.access_token, json: { refresh_token: fresh.refresh_token } })).status).toBe(204);
    expect((await req('POST', '/auth/logout-all', { token: rotated.access_token })).status).toBe(401);

    // Forced internal errors: an unreadable stored hash, a missing table, a wrong key-encryption key,
    // a refused secret, a missing binding and a limiter fault.
    const victim = await c.register(uniqueName('broken'), `pw-${crypto.randomUUID()}`);
    secrets.add(victim.password);
    const db = drizzle(env.DB);
    await env.DB.prepare('UPDATE users SET password_hash = ? WHERE id = ?').bind(`$argon2id$v=19$m=1,t=1,p=1$${victim.password}`, victim.id).run();
    expect((await req('POST', '/auth/login', { json: { username: victim.username, password: victim.password } })).status).toBe(500);
    const other = await c.register(uniqueName('tableless'), `pw-${crypto.randomUUID()}`);
    secrets.add(other.password);
    await env.DB.prepare('ALTER TABLE sessions RENAME TO sessions_hidden').run();
    try {
      expect((await req('POST', '/auth/login', { json: { username: other.username, password: other.password } })).status).toBe(500);
    } finally {
      await env.DB.prepare('ALTER TABLE sessions_hidden RENAME TO sessions').run();
    }
    const wrongKek = `another-key-encryption-key-${crypto.randomUUID()}`;
    secrets.add(wrongKek);
    const withWrongKek = new Client(testEnv({ JWT_ALG: alg, KEY_ENCRYPTION_KEY: wrongKek }), c.clock);
    const kekRes = await withWrongKek.request('POST', '/auth/login', { json: { username: other.username, password: other.password } });
    // ES256 signs with a private key sealed under the KEK: a wrong KEK cannot unseal it, a 500
    // internal_error (not a platform fault: retrying cannot help). HS256 signs with JWT_SECRET.
    expect(kekRes.status).toBe(alg === 'ES256' ? 500 : 200);
    if (alg === 'ES256') {
      expect((await kekRes.clone().json()) as { error: string }).toMatchObject({ error: 'internal_error' });
      bodies.push(await kekRes.clone().text()); // an error body: searched for secrets below
    }
    const weakSecret = `weak-${crypto.randomUUID().slice(0, 8)}`;
    secrets.add(weakSecret);
    const misconfigured = await new Client(testEnv({ JWT_SECRET: weakSecret })).request('GET', '/auth/me');
    expect(misconfigured.status).toBe(500);
    bodies.push(await misconfigured.text());
    const unbound = await new Client({ ...testEnv(), RL_LOGIN_IP: undefined }).request('POST', '/auth/login', { json: { username, password: newPassword } });
    expect(unbound.status).toBe(500);
    bodies.push(await unbound.text());
    const faulty = new Client({ ...testEnv(), RL_LOGIN_IP: { limit: () => Promise.reject(new Error(`limiter down ${newPassword.length}`)) } });
    const faultyLogin = await faulty.request('POST', '/auth/login', { json: { username, password: wrong } });
    bodies.push(await faultyLogin.text());

    // Everything at rest that must never be logged either: hashes and keys.
    for (const u of await db.select().from(users).all()) secrets.add(u.passwordHash.split('$').pop()!);
    for (const s of await db.select().from(sessions).all()) {
      secrets.add(s.currentHash);
      if (s.previousHash) secrets.add(s.previousHash);
    }
    for (const k of await db.select().from(signingKeys).all()) {
      secrets.add(k.privateEnc);
      const material = await decryptSecret(env.KEY_ENCRYPTION_KEY!, k.privateEnc, k.kid);
      secrets.add(material);
      if (k.alg === 'ES256') secrets.add((JSON.parse(material) as { d: string }).d);
    }

    const log = captured.join('\n');
    // The capture works and the forced errors were logged (so the search below can fail).
    expect(log).toContain('"code":"internal_error"');
    expect(log).toContain('"code":"misconfigured"');
    expect(log).toContain('"setting":"JWT_SECRET"');
    expect(log).toContain('"event":"auth.login"'); // the auth event lines are searched too
    expect(log).toContain('RL_LOGIN_IP');
    expect(log).toContain('rate_limiter_unavailable');
    expect(leaks(log, secrets), 'secrets in the console output').toEqual([]);
    expect(leaks(bodies.join('\n'), secrets), 'secrets in error bodies').toEqual([]);
    const audit = JSON.stringify(await db.select().from(auditLog).all());
    expect(audit).toContain('"login"');
    expect(leaks(audit, secrets), 'secrets in the audit log').toEqual([]);
    // The search itself finds what it is looking for.
    expect(leaks(`x ${rotated.refresh_token.slice(0, 30)} y`, [rotated.refresh_token])).not.toEqual([]);
  });
});

describe('machine clients', () => {
  it('API keys, client secrets and client tokens appear in no log line, error body or audit row', async () => {
    const env = testEnv();
    const c = new Client(env);
    const db = drizzle(env.DB);
    const secrets = new Set<string>();
    const bodies: string[] = [];
    const form = (params: Record<string, string>, auth?: string) =>
      c.request('POST', params.token !== undefined ? '/oauth/introspect' : '/oauth/token', {
        body: new URLSearchParams(params).toString(),
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...(auth ? { Authorization: auth } : {}) },
      });

    const admin = await c.register(uniqueName('keyadmin'));
    await db.update(users).set({ roles: '["admin"]' }).where(eq(users.id, admin.id)).run();
    const boss = await c.login(admin.username, admin.password);
    const created = (await (await c.request('POST', '/auth/api-keys', { token: boss.access_token, json: { name: 'leaky' } })).json()) as { api_key: string; key: { id: string } };
    secrets.add(created.api_key);
    expect((await c.request('GET', '/api/private', { headers: { 'X-API-Key': created.api_key } })).status).toBe(200);
    // A mistyped key, a revoked key, a key in a cookie: refused, and the key is echoed nowhere.
    for (const res of [
      await c.request('GET', '/api/private', { headers: { 'X-API-Key': `${created.api_key.slice(0, -1)}x` } }),
      await c.request('GET', '/api/private', { headers: { Cookie: `__Host-edge_access=${created.api_key}` } }),
      await c.request('POST', '/auth/logout-all', { headers: { 'X-API-Key': created.api_key } }),
    ]) bodies.push(await res.text());

    const client = (await (await c.request('POST', '/admin/clients', { token: boss.access_token, json: { name: 'leaky partner', roles: ['admin'] } })).json()) as { client: { client_id: string }; client_secret: string };
    secrets.add(client.client_secret);
    const basic = `Basic ${btoa(`${client.client.client_id}:${client.client_secret}`)}`;
    const issued = (await (await form({ grant_type: 'client_credentials' }, basic)).json()) as { access_token: string };
    secrets.add(issued.access_token);
    for (const res of [
      await form({ grant_type: 'client_credentials' }, `Basic ${btoa(`${client.client.client_id}:${client.client_secret}x`)}`),
      await form({ grant_type: 'client_credentials', client_id: client.client.client_id, client_secret: client.client_secret, scope: 'nope' }),
      await form({ token: issued.access_token }, basic),
      await form({ token: created.api_key }, basic),
    ]) bodies.push(await res.text());
    const rotated = (await (await c.request('POST', `/admin/clients/${client.client.client_id}/rotate-secret`, { token: boss.access_token })).json()) as { client_secret: string };
    secrets.add(rotated.client_secret);
    expect((await c.request('DELETE', `/auth/api-keys/${created.key.id}`, { token: boss.access_token })).status).toBe(204);

    const log = captured.join('\n');
    expect(log).toContain('"event":"auth.api_key_create"');
    expect(log).toContain('"event":"auth.client_token"');
    expect(leaks(log, secrets), 'secrets in the console output').toEqual([]);
    expect(leaks(bodies.join('\n'), secrets), 'secrets in error bodies').toEqual([]);
    const audit = JSON.stringify(await db.select().from(auditLog).all());
    expect(audit).toContain('"client_secret_rotate"');
    expect(leaks(audit, secrets), 'secrets in the audit log').toEqual([]);
  });
});

describe('account mail', () => {
  it('reset, verification and change tokens and their links appear in no log line, error body or audit row', async () => {
    const mail = new CapturedMail();
    const env = testEnv({ EMAIL: mail as unknown as SendEmail });
    const c = new Client(env);
    const db = drizzle(env.DB);
    const secrets = new Set<string>(['correct horse battery', 'a brand new password']);
    const bodies: string[] = [];
    const user = await verifiedUser(c, mail);
    for (const m of mail.sent) secrets.add(tokenIn(m));
    await c.request('POST', '/auth/password/forgot', { json: { email: user.email } });
    const reset = tokenIn(mail.last(user.email));
    secrets.add(reset);
    expect((await c.request('POST', '/auth/password/reset', { json: { token: reset, new_password: 'a brand new password' } })).status).toBe(204);
    // Replayed, mistyped and expired-looking tokens: refused, echoed nowhere.
    for (const res of [
      await c.request('POST', '/auth/password/reset', { json: { token: reset, new_password: 'a brand new password' } }),
      await c.request('POST', '/auth/password/reset', { json: { token: `${reset.slice(0, -1)}x`, new_password: 'a brand new password' } }),
      await c.request('POST', '/auth/email/verify', { json: { token: reset } }),
    ]) bodies.push(await res.text());
    const { access_token } = await c.login(user.username, 'a brand new password');
    secrets.add(access_token);
    const next = `next-${user.email}`;
    expect((await c.request('POST', '/auth/email', { token: access_token, json: { new_email: next, current_password: 'a brand new password' } })).status).toBe(202);
    const change = tokenIn(mail.last(next));
    secrets.add(change);
    expect((await c.request('POST', '/auth/email/verify', { json: { token: change } })).status).toBe(200);
    for (const m of mail.sent) {
      const link = /https?:\/\/\S+#token=\S+/.exec(m.text)?.[0];
      if (link) secrets.add(link);
    }
    const hashes = await env.DB.prepare('SELECT token_hash FROM email_tokens').all<{ token_hash: string }>();
    for (const row of hashes.results) secrets.add(row.token_hash);

    const log = captured.join('\n');
    expect(log).toContain('"event":"auth.password_reset"');
    expect(log).toContain('"event":"auth.email_change"');
    expect(leaks(log, secrets), 'secrets in the console output').toEqual([]);
    expect(leaks(bodies.join('\n'), secrets), 'secrets in error bodies').toEqual([]);
    const audit = JSON.stringify(await db.select().from(auditLog).all());
    expect(audit).toContain('"password_forgot"');
    expect(leaks(audit, secrets), 'secrets in the audit log').toEqual([]);
  });
});

describe('database errors', () => {
  it('a failed query is logged without its bound parameters (drizzle puts them in the message)', async () => {
    const env = testEnv();
    const c = new Client(env);
    const u = await c.register();
    const secretHash = `$argon2id$v=19$m=19456,t=2,p=1$${crypto.randomUUID()}`;
    await env.DB.prepare('ALTER TABLE users RENAME TO users_hidden').run();
    let thrown: unknown;
    try {
      await drizzle(env.DB).update(users).set({ passwordHash: secretHash }).where(eq(users.id, u.id)).run();
    } catch (err) {
      thrown = err;
    } finally {
      await env.DB.prepare('ALTER TABLE users_hidden RENAME TO users').run();
    }
    // The raw error carries the secret: this is what the logger must not pass on.
    expect(String((thrown as Error).message)).toContain(secretHash);
    const described = describeError(thrown)!;
    expect(described).toMatch(/^DrizzleQueryError: update "users" set "password_hash" = \? where "users"."id" = \? <- .*no such table: users/);
    expect(described).not.toContain(secretHash);
    expect(described).not.toContain(u.id);
  });
});

describe('second factors (issue 17)', () => {
  it('second factors: no TOTP secret, code, recovery code or mfa_token in any log line', async () => {
    const { enrolled, passwordStep, verify, codeAt } = await import('./mfa-helpers');
    const admitAll = { limit: async () => ({ success: true }) } as unknown as RateLimit;
    const c = new Client({ ...testEnv(), RL_LOGIN_USER: admitAll });
    const u = await enrolled(c);
    const first = await passwordStep(c, u.username);
    const code = await codeAt(u.secret, c.clock.seconds);
    await verify(c, { mfa_token: first.mfa_token, code: code === '000000' ? '000001' : '000000' }); // a wrong one
    const ok = await verify(c, { mfa_token: first.mfa_token, code });
    expect(ok.status).toBe(200);
    const second = await passwordStep(c, u.username);
    expect((await verify(c, { mfa_token: second.mfa_token, recovery_code: u.recoveryCodes[0]! })).status).toBe(200);
    await verify(c, { mfa_token: second.mfa_token, recovery_code: u.recoveryCodes[0]! }); // used token and code
    expect((await c.request('POST', '/auth/mfa/totp/disable', { token: u.access_token, json: { recovery_code: u.recoveryCodes[1]! } })).status).toBe(204);

    // 6-digit codes are searched as JSON strings: bare digits occur in timestamps by chance.
    const secrets = [u.secret, first.mfa_token, second.mfa_token, ...u.recoveryCodes, u.password, u.access_token, u.refresh_token];
    const logs = captured.join('\n');
    expect(captured.length).toBeGreaterThan(5);
    expect(leaks(logs, secrets)).toEqual([]);
    expect(logs).not.toContain(`"${code}"`);
    const audit = JSON.stringify(await drizzle(c.env.DB).select().from(auditLog).where(eq(auditLog.subjectId, u.id)).all());
    expect(leaks(audit, secrets)).toEqual([]);
    expect(audit).not.toContain(`"${code}"`);
    expect(audit).toContain('mfa_verify');
  });
});
