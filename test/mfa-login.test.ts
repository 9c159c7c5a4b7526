// The login state machine with a second factor: password -> mfa_token -> factor -> tokens; the
// token's lifetime and single use; wrong codes in the lockout; cookie mode; amr and auth_time
// across refresh; requireAuth({mfa, maxAge}); REQUIRE_MFA_FOR_ADMINS; the administrator's reset.
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AppEnv } from '../src/app-env';
import { getConfig } from '../src/config';
import { LOCKOUT_THRESHOLD } from '../src/db/lockout';
import { auditLog, users } from '../src/db/schema';
import { errorResponse } from '../src/lib/error-response';
import { AppError } from '../src/errors';
import { requireAuth } from '../src/middleware/require-auth';
import { ORIGIN } from './browser';
import { Client, errorOf, testEnv, type TokenBody } from './helpers';
import { claimsOf, codeAt, enrolled, passwordStep, verify } from './mfa-helpers';

async function setRoles(c: Client, id: string, roles: string[]): Promise<void> {
  await drizzle(c.env.DB).update(users).set({ roles: JSON.stringify(roles) }).where(eq(users.id, id)).run();
}

describe('login with a second factor', () => {
  it('a correct password answers mfa_required with a token and the methods, and no tokens or cookies', async () => {
    const c = new Client(testEnv());
    const u = await enrolled(c);
    const res = await c.request('POST', '/auth/login', { json: { username: u.username, password: u.password, mode: 'cookie' }, headers: { Origin: ORIGIN } });
    expect(res.status).toBe(200);
    expect(res.headers.get('Set-Cookie')).toBeNull();
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toEqual({ mfa_required: true, mfa_token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), methods: ['totp', 'recovery_code'], expires_in: 300 });
    // A wrong password is still the plain 401, whatever factors exist.
    const wrong = await c.request('POST', '/auth/login', { json: { username: u.username, password: 'wrong password!' } });
    expect(wrong.status).toBe(401);
  });

  it('verify with the code issues tokens carrying amr [pwd, otp, mfa] and auth_time, kept across refresh', async () => {
    const c = new Client(testEnv());
    const u = await enrolled(c);
    const loginAt = c.clock.seconds;
    const pending = await passwordStep(c, u.username);
    const res = await verify(c, { mfa_token: pending.mfa_token, code: await codeAt(u.secret, c.clock.seconds) });
    expect(res.status).toBe(200);
    const tokens = (await res.json()) as TokenBody;
    expect(claimsOf(tokens.access_token)).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], auth_time: loginAt });
    c.clock.advance(600);
    const refreshed = await c.request('POST', '/auth/refresh', { json: { refresh_token: tokens.refresh_token } });
    const again = (await refreshed.json()) as TokenBody;
    expect(claimsOf(again.access_token)).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], auth_time: loginAt });
    expect(claimsOf(again.access_token).iat).toBe(loginAt + 600);
    // A password-only login says so.
    const plain = await c.signedUp();
    expect(claimsOf(plain.access_token)).toMatchObject({ amr: ['pwd'], auth_time: c.clock.seconds });
  });

  it('the mfa_token is single use and lives 5 minutes', async () => {
    const c = new Client(testEnv());
    const u = await enrolled(c);
    const pending = await passwordStep(c, u.username);
    expect((await verify(c, { mfa_token: pending.mfa_token, recovery_code: u.recoveryCodes[0]! })).status).toBe(200);
    const reused = await verify(c, { mfa_token: pending.mfa_token, recovery_code: u.recoveryCodes[1]! });
    expect(reused.status).toBe(401);
    expect((await errorOf(reused)).error).toBe('invalid_grant');

    const late = await passwordStep(c, u.username);
    c.clock.advance(301);
    const expired = await verify(c, { mfa_token: late.mfa_token, code: await codeAt(u.secret, c.clock.seconds) });
    expect(expired.status).toBe(401);
    expect((await errorOf(expired)).error).toBe('invalid_grant');
    const forged = await verify(c, { mfa_token: 'A'.repeat(43), code: '123456' });
    expect((await errorOf(forged)).error).toBe('invalid_grant');
  });

  it('a wrong code keeps the token (a typo costs an attempt, not the sign-in)', async () => {
    const c = new Client(testEnv());
    const u = await enrolled(c);
    const pending = await passwordStep(c, u.username);
    const good = await codeAt(u.secret, c.clock.seconds);
    const bad = good === '000000' ? '000001' : '000000';
    expect((await verify(c, { mfa_token: pending.mfa_token, code: bad })).status).toBe(401);
    expect((await verify(c, { mfa_token: pending.mfa_token, code: good })).status).toBe(200);
  });

  it('wrong codes count in the lockout; a correct password does not reset the count; locked refuses even the right code', async () => {
    // The per-account rate limit (10 a minute, real time) is tested elsewhere; here the D1 lockout.
    const unthrottled: RateLimit = { limit: async () => ({ success: true }) };
    const c = new Client({ ...testEnv(), RL_LOGIN_USER: unthrottled, RL_LOGIN_IP: unthrottled });
    const u = await enrolled(c);
    const good = await codeAt(u.secret, c.clock.seconds);
    const bad = good === '000000' ? '000001' : '000000';
    // Two password steps: the second must not clear the first one's failures.
    for (const tries of [3, LOCKOUT_THRESHOLD - 3]) {
      const pending = await passwordStep(c, u.username);
      for (let i = 0; i < tries; i++) expect((await verify(c, { mfa_token: pending.mfa_token, code: bad })).status).toBe(401);
    }
    const row = await drizzle(c.env.DB).select().from(users).where(eq(users.id, u.id)).get();
    // Each right password is taken back, each wrong code counted: exactly the threshold.
    expect(row!.failedLogins).toBe(LOCKOUT_THRESHOLD);
    expect(row!.lockedUntil).toBeGreaterThan(c.clock.seconds);
    // Locked: the password step is refused too, and a token from before cannot finish.
    expect((await c.request('POST', '/auth/login', { json: { username: u.username, password: u.password } })).status).toBe(401);
    const audit = await drizzle(c.env.DB).select().from(auditLog).where(eq(auditLog.subjectId, u.id)).all();
    expect(audit.filter((a) => a.event === 'mfa_verify' && a.outcome === 'failure').length).toBe(LOCKOUT_THRESHOLD);
    c.clock.advance(61);
    const pending = await passwordStep(c, u.username);
    const ok = await verify(c, { mfa_token: pending.mfa_token, code: await codeAt(u.secret, c.clock.seconds) });
    expect(ok.status).toBe(200);
    const after = await drizzle(c.env.DB).select().from(users).where(eq(users.id, u.id)).get();
    expect(after!.failedLogins).toBe(0);
  });

  it('bad input is a 400, never a 5xx', async () => {
    const c = new Client(testEnv());
    for (const body of [
      {},
      { mfa_token: 'short', code: '123456' },
      { mfa_token: 'A'.repeat(43) },
      { mfa_token: 'A'.repeat(43), code: '123456', recovery_code: 'aaaa-aaaa-aaaa-aaaa' },
      { mfa_token: 'A'.repeat(43), code: '12345a' },
      { mfa_token: 'A'.repeat(43), webauthn: { id: 'x' } },
      { mfa_token: 'A'.repeat(43), code: '123456', mode: 'session' },
    ]) {
      const res = await verify(c, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
  });

  it('cookie mode: sets the session cookies; refused from a foreign origin', async () => {
    const c = new Client(testEnv());
    const u = await enrolled(c);
    const pending = await passwordStep(c, u.username);
    const code = await codeAt(u.secret, c.clock.seconds);
    const foreign = await verify(c, { mfa_token: pending.mfa_token, code, mode: 'cookie' }, { Origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect((await errorOf(foreign)).error).toBe('csrf_failed');
    const res = await verify(c, { mfa_token: pending.mfa_token, code, mode: 'cookie' }, { Origin: ORIGIN });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).not.toHaveProperty('access_token');
    expect(res.headers.getSetCookie().map((s) => s.split('=')[0])).toEqual(expect.arrayContaining(['__Host-edge_access', '__Secure-edge_refresh', '__Host-edge_csrf']));
  });
});

describe('step-up: requireAuth({ mfa, maxAge })', () => {
  function guarded(c: Client) {
    const app = new Hono<AppEnv>();
    app.use('*', async (ctx, next) => {
      ctx.set('config', getConfig(ctx.env));
      ctx.set('now', () => c.clock.seconds);
      await next();
    });
    app.get('/mfa', requireAuth({ mfa: true }), (ctx) => ctx.json({ amr: ctx.get('auth').amr }));
    app.get('/recent', requireAuth({ maxAge: 120 }), (ctx) => ctx.json({ ok: true }));
    app.onError((err, ctx) => errorResponse(ctx, err instanceof AppError ? err : new AppError('internal_error')));
    return (path: string, token: string) => app.request(path, { headers: { Authorization: `Bearer ${token}` } }, c.env);
  }

  it('mfa: a password-only token gets 403 mfa_required; a token with a second factor passes', async () => {
    const c = new Client(testEnv());
    const call = guarded(c);
    const plain = await c.signedUp();
    const refused = await call('/mfa', plain.access_token);
    expect(refused.status).toBe(403);
    expect((await errorOf(refused)).error).toBe('mfa_required');
    const u = await enrolled(c);
    const pending = await passwordStep(c, u.username);
    const tokens = (await (await verify(c, { mfa_token: pending.mfa_token, code: await codeAt(u.secret, c.clock.seconds) })).json()) as TokenBody;
    const ok = await call('/mfa', tokens.access_token);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ amr: ['pwd', 'otp', 'mfa'] });
  });

  it('maxAge: a sign-in older than max_age gets 401 with the RFC 9470 challenge, even with a freshly refreshed token', async () => {
    const c = new Client(testEnv());
    const call = guarded(c);
    const u = await c.signedUp();
    expect((await call('/recent', u.access_token)).status).toBe(200);
    c.clock.advance(121);
    const refreshed = (await (await c.request('POST', '/auth/refresh', { json: { refresh_token: u.refresh_token } })).json()) as TokenBody;
    const res = await call('/recent', refreshed.access_token);
    expect(res.status).toBe(401);
    expect((await errorOf(res)).error).toBe('insufficient_user_authentication');
    expect(res.headers.get('WWW-Authenticate')).toMatch(/error="insufficient_user_authentication".*max_age=120/);
  });
});

describe('administrators', () => {
  it('REQUIRE_MFA_FOR_ADMINS=true: the admin API refuses a password-only admin, admits one with a second factor', async () => {
    const c = new Client(testEnv({ REQUIRE_MFA_FOR_ADMINS: 'true' }));
    const plain = await c.register();
    await setRoles(c, plain.id, ['admin']);
    const token = (await c.login(plain.username, plain.password)).access_token;
    const refused = await c.request('GET', '/admin/users', { token });
    expect(refused.status).toBe(403);
    expect((await errorOf(refused)).error).toBe('mfa_required');

    const u = await enrolled(c);
    await setRoles(c, u.id, ['admin']);
    const pending = await passwordStep(c, u.username);
    const tokens = (await (await verify(c, { mfa_token: pending.mfa_token, code: await codeAt(u.secret, c.clock.seconds) })).json()) as TokenBody;
    expect((await c.request('GET', '/admin/users', { token: tokens.access_token })).status).toBe(200);
    // Off by default: the same password-only admin passes without the switch.
    const off = new Client(testEnv(), c.clock);
    expect((await off.request('GET', '/admin/users', { token })).status).toBe(200);
  });

  it("an administrator resets a user's factors (audited); the user then signs in with the password alone", async () => {
    const c = new Client(testEnv());
    const admin = await c.register();
    await setRoles(c, admin.id, ['admin']);
    const adminToken = (await c.login(admin.username, admin.password)).access_token;
    const u = await enrolled(c);
    const status = await c.request('GET', `/admin/users/${u.id}/mfa`, { token: adminToken });
    expect(await status.json()).toMatchObject({ totp: 'enabled', recovery_codes_left: 10 });
    expect((await c.request('POST', `/admin/users/${u.id}/mfa/reset`, { token: u.access_token })).status).toBe(403);
    const res = await c.request('POST', `/admin/users/${u.id}/mfa/reset`, { token: adminToken });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ totp_removed: true, passkeys_removed: 0 });
    expect((await c.login(u.username, u.password)).access_token).toBeTruthy();
    const audit = await drizzle(c.env.DB).select().from(auditLog).where(eq(auditLog.event, 'mfa_reset')).all();
    expect(audit.find((a) => a.subjectId === u.id)).toMatchObject({ actorId: admin.id, outcome: 'success' });
    expect((await c.request('POST', '/admin/users/not-a-uuid/mfa/reset', { token: adminToken })).status).toBe(404);
    expect((await c.request('POST', `/admin/users/${crypto.randomUUID()}/mfa/reset`, { token: adminToken })).status).toBe(404);
  });
});

describe('clean-up', () => {
  it('the scheduled clean-up deletes expired mfa_tokens and challenges, keeps live ones', async () => {
    const { runCleanup } = await import('../src/services/cleanup');
    const { mfaChallenges } = await import('../src/mfa/schema');
    const c = new Client(testEnv());
    const u = await enrolled(c);
    const live = await passwordStep(c, u.username);
    const db = drizzle(c.env.DB);
    await db.insert(mfaChallenges).values({ idHash: `expired-${crypto.randomUUID()}`, kind: 'webauthn_login', userId: null, expiresAt: c.clock.seconds - 1, createdAt: c.clock.seconds - 200 }).run();
    const result = await runCleanup(c.env.DB, c.config, c.clock.seconds);
    expect(result.mfaChallenges).toBeGreaterThanOrEqual(1);
    const left = await db.select().from(mfaChallenges).all();
    expect(left.every((r) => r.expiresAt >= c.clock.seconds)).toBe(true);
    expect((await verify(c, { mfa_token: live.mfa_token, code: await codeAt(u.secret, c.clock.seconds) })).status).toBe(200);
  });
});
