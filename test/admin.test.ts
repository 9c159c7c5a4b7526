// Roles, the admin API, fresh rights, and the audit log.
import { describe, expect, it } from 'vitest';
import { drizzle } from 'drizzle-orm/d1';
import { eq } from 'drizzle-orm';
import { auditLog, sessions, users } from '../src/db/schema';
import { deleteUserReturningSessions, updateUser as updateUserRow } from '../src/db/users';
import { sha256 } from '../src/crypto/digest';
import { Client, errorOf, testEnv, uniqueName, type TokenBody } from './helpers';

const PASSWORD = 'correct horse battery';

async function setRoles(c: Client, id: string, roles: string[]): Promise<void> {
  await drizzle(c.env.DB).update(users).set({ roles: JSON.stringify(roles) }).where(eq(users.id, id)).run();
}

/** A fresh administrator: registered, given the role directly in D1 (as user:create does), logged in. */
async function adminOf(c: Client): Promise<TokenBody & { id: string; username: string }> {
  const { id, username, password } = await c.register();
  await setRoles(c, id, ['admin']);
  return { ...(await c.login(username, password)), id, username };
}

async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

interface AdminUserView {
  id: string;
  username: string;
  email: string | null;
  roles: string[];
  disabled: boolean;
  failed_logins: number;
  locked_until: number | null;
  created_at: number;
  updated_at: number;
}

interface AuditView {
  id: number;
  at: number;
  event: string;
  outcome: string;
  actor_id: string | null;
  subject_id: string | null;
  ip: string | null;
  user_agent: string | null;
  detail: Record<string, unknown> | null;
}

const ANY_ID = '00000000-0000-4000-8000-000000000000';
const ENDPOINTS: [string, string, unknown?][] = [
  ['GET', '/admin/users'],
  ['GET', `/admin/users/${ANY_ID}`],
  ['PATCH', `/admin/users/${ANY_ID}`, { disabled: true }],
  ['DELETE', `/admin/users/${ANY_ID}`],
  ['GET', `/admin/users/${ANY_ID}/sessions`],
  ['DELETE', `/admin/users/${ANY_ID}/sessions`],
  ['POST', `/admin/users/${ANY_ID}/unlock`],
  ['GET', '/admin/audit'],
];

describe('admin API access', () => {
  it('refuses anonymous callers with 401 and non-admins with 403 on every endpoint', async () => {
    const c = new Client(testEnv());
    const plain = await c.signedUp();
    await setRoles(c, plain.id, ['editor']); // a role, but not admin
    const editor = await c.login(plain.username, plain.password);
    expect(editor.user.roles).toEqual(['editor']);
    for (const [method, path, body] of ENDPOINTS) {
      const anon = await c.request(method, path, { json: body });
      expect(anon.status, `${method} ${path} anonymous`).toBe(401);
      expect((await errorOf(anon)).error).toBe('unauthorized');
      const user = await c.request(method, path, { json: body, token: editor.access_token });
      expect(user.status, `${method} ${path} as editor`).toBe(403);
      expect((await errorOf(user)).error).toBe('insufficient_scope');
      expect(user.headers.get('WWW-Authenticate')).toContain('error="insufficient_scope"');
    }
    // The control: an administrator gets through (404 for the unknown id is the route answering).
    const admin = await adminOf(c);
    expect((await c.request('GET', '/admin/users', { token: admin.access_token })).status).toBe(200);
    expect((await c.request('GET', `/admin/users/${ANY_ID}`, { token: admin.access_token })).status).toBe(404);
  });

  it('fresh: the stored user decides, not the token (demoted, disabled, deleted admins)', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    expect((await c.request('GET', '/admin/users', { token: admin.access_token })).status).toBe(200);

    // Demoted directly in D1 (no revocation): the token still says admin, the fresh read does not.
    await setRoles(c, admin.id, []);
    const demoted = await c.request('GET', '/admin/users', { token: admin.access_token });
    expect(demoted.status).toBe(403);
    expect((await errorOf(demoted)).error).toBe('insufficient_scope');
    // A claims-only route still believes the token: the documented difference between the strategies.
    expect((await c.request('GET', '/api/admin', { token: admin.access_token })).status).toBe(200);

    await setRoles(c, admin.id, ['admin']);
    await drizzle(c.env.DB).update(users).set({ disabled: true }).where(eq(users.id, admin.id)).run();
    const disabled = await c.request('GET', '/admin/users', { token: admin.access_token });
    expect(disabled.status).toBe(401);
    expect((await errorOf(disabled)).error).toBe('invalid_token');
    expect(disabled.headers.get('WWW-Authenticate')).toContain('error="invalid_token"');

    await drizzle(c.env.DB).delete(users).where(eq(users.id, admin.id)).run();
    const deleted = await c.request('GET', '/admin/users', { token: admin.access_token });
    expect(deleted.status).toBe(401);
    expect((await errorOf(deleted)).error).toBe('invalid_token');
  });

  it('fresh: roles granted since the token was issued count, and auth.roles are the stored ones', async () => {
    const c = new Client(testEnv());
    const u = await c.signedUp();
    expect((await c.request('GET', '/admin/users', { token: u.access_token })).status).toBe(403);
    await setRoles(c, u.id, ['admin', 'support']);
    const res = await c.request('GET', `/admin/users/${u.id}`, { token: u.access_token });
    expect(res.status).toBe(200);
    expect((await json<{ user: AdminUserView }>(res)).user.roles).toEqual(['admin', 'support']);
  });
});

describe('admin users', () => {
  it('lists users in stable pages, filtered by username prefix', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    const prefix = `pg${Math.random().toString(36).slice(2, 7)}`;
    const names = ['b', 'd', 'f', 'h', 'j', 'l', 'n'].map((s) => `${prefix}_${s}`);
    for (const name of [...names].reverse()) await c.register(name);
    await c.register(`x${prefix}_not_matching`);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const qs: string = `?limit=2&username_prefix=${prefix.toUpperCase()}${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await c.request('GET', `/admin/users${qs}`, { token: admin.access_token });
      expect(res.status).toBe(200);
      const body = await json<{ users: AdminUserView[]; next_cursor: string | null }>(res);
      expect(body.users.length).toBeLessThanOrEqual(2);
      seen.push(...body.users.map((u) => u.username));
      for (const u of body.users) expect(u).not.toHaveProperty('password_hash');
      cursor = body.next_cursor;
      pages++;
      if (pages === 2) {
        // Changes between pages: a user sorting before the cursor is not shown, one after it is,
        // and nothing is shown twice or skipped.
        await c.register(`${prefix}_a`);
        await c.register(`${prefix}_m`);
      }
    } while (cursor && pages < 10);
    expect(seen).toEqual([...names.slice(0, 6), `${prefix}_m`, names[6]]);
    expect(cursor).toBeNull();

    // The default page and fields.
    const all = await json<{ users: AdminUserView[]; next_cursor: string | null }>(
      await c.request('GET', `/admin/users?username_prefix=${prefix}`, { token: admin.access_token }),
    );
    expect(all.users.map((u) => u.username)).toEqual([`${prefix}_a`, ...names.slice(0, 6), `${prefix}_m`, names[6]]);
    expect(all.next_cursor).toBeNull();
    expect(Object.keys(all.users[0]!).sort()).toEqual(
      ['created_at', 'disabled', 'email', 'email_verified', 'failed_logins', 'id', 'locked_until', 'roles', 'updated_at', 'username'].sort(),
    );
  });

  it('validates query parameters', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    for (const qs of [
      'limit=0',
      'limit=201',
      'limit=abc',
      'limit=-1',
      'cursor=***',
      'cursor=bm90LWEtY3Vyc29y', // base64url of "not-a-cursor"
      'username_prefix=has%20space',
      'username_prefix=',
      'unknown=1',
      'limit=5&limit=6',
    ]) {
      const res = await c.request('GET', `/admin/users?${qs}`, { token: admin.access_token });
      expect(res.status, qs).toBe(400);
      expect((await errorOf(res)).error).toBe('invalid_request');
    }
    expect((await c.request('GET', '/admin/users?limit=200', { token: admin.access_token })).status).toBe(200);
    // A users cursor is not an audit cursor.
    const users = await json<{ next_cursor: string }>(await c.request('GET', '/admin/users?limit=1', { token: admin.access_token }));
    expect(users.next_cursor).toEqual(expect.any(String));
    expect((await c.request('GET', `/admin/audit?cursor=${users.next_cursor}`, { token: admin.access_token })).status).toBe(400);
    for (const qs of ['since=abc', 'since=20&until=10', 'user=not-a-uuid', 'outcome=maybe', 'event=DROP%20TABLE']) {
      const res = await c.request('GET', `/admin/audit?${qs}`, { token: admin.access_token });
      expect(res.status, qs).toBe(400);
    }
  });

  it('reads one user; unknown and malformed ids are 404', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    const u = await c.register();
    const res = await c.request('GET', `/admin/users/${u.id}`, { token: admin.access_token });
    expect(res.status).toBe(200);
    expect((await json<{ user: AdminUserView }>(res)).user).toMatchObject({ id: u.id, username: u.username, roles: [], disabled: false, failed_logins: 0 });
    expect((await c.request('GET', `/admin/users/${ANY_ID}`, { token: admin.access_token })).status).toBe(404);
    expect((await c.request('GET', '/admin/users/not-an-id', { token: admin.access_token })).status).toBe(404);
  });

  it('validates PATCH bodies', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    const u = await c.register();
    const bad: unknown[] = [
      {},
      { roles: 'admin' },
      { roles: ['Admin'] },
      { roles: ['has space'] },
      { roles: ['a'.repeat(33)] },
      { roles: Array.from({ length: 17 }, (_, i) => `r${i}`) },
      { disabled: 'yes' },
      { email: 'not-an-email' },
      { username: 'renamed' },
      { roles: ['ok'], password_hash: 'x' },
    ];
    for (const body of bad) {
      const res = await c.request('PATCH', `/admin/users/${u.id}`, { json: body, token: admin.access_token });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await errorOf(res)).error).toBe('invalid_request');
    }
    const text = await c.request('PATCH', `/admin/users/${u.id}`, { body: 'disabled=1', token: admin.access_token, headers: { 'Content-Type': 'text/plain' } });
    expect(text.status).toBe(415);

    const ok = await c.request('PATCH', `/admin/users/${u.id}`, { json: { email: 'u@example.com', roles: ['support', 'support', 'billing:read'] }, token: admin.access_token });
    expect(ok.status).toBe(200);
    expect((await json<{ user: AdminUserView }>(ok)).user).toMatchObject({ email: 'u@example.com', roles: ['support', 'billing:read'] });
    const cleared = await c.request('PATCH', `/admin/users/${u.id}`, { json: { email: null }, token: admin.access_token });
    expect((await json<{ user: AdminUserView }>(cleared)).user.email).toBeNull();
    expect((await c.request('PATCH', `/admin/users/${ANY_ID}`, { json: { disabled: true }, token: admin.access_token })).status).toBe(404);
  });

  it('an administrator cannot disable, demote or delete themselves (409)', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    for (const body of [{ disabled: true }, { roles: [] }, { roles: ['support'] }]) {
      const res = await c.request('PATCH', `/admin/users/${admin.id}`, { json: body, token: admin.access_token });
      expect(res.status, JSON.stringify(body)).toBe(409);
      expect((await errorOf(res)).error).toBe('conflict');
    }
    expect((await c.request('DELETE', `/admin/users/${admin.id}`, { token: admin.access_token })).status).toBe(409);
    // Harmless self-changes are allowed, and nothing above took effect.
    const res = await c.request('PATCH', `/admin/users/${admin.id}`, { json: { roles: ['admin', 'support'] }, token: admin.access_token });
    expect(res.status).toBe(200);
    expect((await json<{ user: AdminUserView }>(res)).user).toMatchObject({ disabled: false, roles: ['admin', 'support'] });
  });
});

describe('two administrators at once', () => {
  it('an admin write is refused when its actor stopped being an admin meanwhile (no mutual demotion)', async () => {
    const c = new Client(testEnv());
    const a = await adminOf(c);
    const b = await adminOf(c);
    const target = await c.signedUp();
    // A demotes B; B's request passed its fresh check just before (simulated: the write itself
    // carries B as actor), so only the guard inside the statement can stop it.
    await setRoles(c, b.id, []);
    expect((await updateUserRow(c.env.DB, a.id, { roles: [] }, c.clock.seconds, b.id)).after).toBeUndefined();
    expect((await updateUserRow(c.env.DB, target.user.id, { disabled: true }, c.clock.seconds, b.id)).after).toBeUndefined();
    expect((await deleteUserReturningSessions(c.env.DB, target.user.id, 'user_deleted', c.clock.seconds, b.id)).deleted).toBe(false);
    const rowA = await drizzle(c.env.DB).select().from(users).where(eq(users.id, a.id)).get();
    expect(JSON.parse(rowA!.roles)).toEqual(['admin']);
    expect((await c.request('GET', '/api/private', { token: target.access_token })).status).toBe(200); // target untouched, sessions not revoked
    // an admin actor still passes the same guard
    expect((await updateUserRow(c.env.DB, target.user.id, { email: 'x@example.com' }, c.clock.seconds, a.id)).after).toBeDefined();
  });
});

describe('fresh rights: changes reach existing tokens within one request', () => {
  it('a role change revokes the old token and refresh token; the next login carries the new roles', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    const u = await c.signedUp();
    expect((await c.request('GET', '/api/private', { token: u.access_token })).status).toBe(200);

    const res = await c.request('PATCH', `/admin/users/${u.id}`, { json: { roles: ['support'] }, token: admin.access_token });
    expect(res.status).toBe(200);

    const old = await c.request('GET', '/api/private', { token: u.access_token });
    expect(old.status).toBe(401);
    expect((await errorOf(old)).error).toBe('invalid_token');
    const refresh = await c.request('POST', '/auth/refresh', { json: { refresh_token: u.refresh_token } });
    expect(refresh.status).toBe(401);
    expect((await errorOf(refresh)).error).toBe('invalid_grant');

    const again = await c.login(u.username, u.password);
    expect(again.user.roles).toEqual(['support']);
    const priv = await json<{ user: { roles: string[] } }>(await c.request('GET', '/api/private', { token: again.access_token }));
    expect(priv.user.roles).toEqual(['support']);

    // Setting the same roles again changes nothing and ends no session.
    const same = await c.request('PATCH', `/admin/users/${u.id}`, { json: { roles: ['support'] }, token: admin.access_token });
    expect(same.status).toBe(200);
    expect((await c.request('GET', '/api/private', { token: again.access_token })).status).toBe(200);
  });

  it('disabling revokes tokens; a disabled user gets 401 on login and refresh; enabling lets them back', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    const u = await c.signedUp();
    const second = await c.login(u.username, u.password); // a second session

    const res = await c.request('PATCH', `/admin/users/${u.id}`, { json: { disabled: true }, token: admin.access_token });
    expect(res.status).toBe(200);
    expect((await json<{ user: AdminUserView }>(res)).user.disabled).toBe(true);

    for (const token of [u.access_token, second.access_token]) {
      expect((await c.request('GET', '/api/private', { token })).status).toBe(401);
    }
    const login = await c.request('POST', '/auth/login', { json: { username: u.username, password: u.password } });
    expect(login.status).toBe(401);
    expect((await errorOf(login)).error).toBe('invalid_credentials');
    const refresh = await c.request('POST', '/auth/refresh', { json: { refresh_token: second.refresh_token } });
    expect(refresh.status).toBe(401);
    expect((await errorOf(refresh)).error).toBe('invalid_grant');

    const enable = await c.request('PATCH', `/admin/users/${u.id}`, { json: { disabled: false }, token: admin.access_token });
    expect(enable.status).toBe(200);
    const back = await c.login(u.username, u.password);
    expect((await c.request('GET', '/api/private', { token: back.access_token })).status).toBe(200);
  });

  it('a user disabled in D1 behind the API cannot refresh (the refresh path reads the user)', async () => {
    const c = new Client(testEnv());
    const u = await c.signedUp();
    await drizzle(c.env.DB).update(users).set({ disabled: true }).where(eq(users.id, u.id)).run();
    const refresh = await c.request('POST', '/auth/refresh', { json: { refresh_token: u.refresh_token } });
    expect(refresh.status).toBe(401);
    expect((await errorOf(refresh)).error).toBe('invalid_grant');
  });

  it('deleting a user revokes their tokens and removes them and their sessions', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    const u = await c.signedUp();
    const res = await c.request('DELETE', `/admin/users/${u.id}`, { token: admin.access_token });
    expect(res.status).toBe(204);
    expect((await c.request('GET', '/api/private', { token: u.access_token })).status).toBe(401);
    expect((await c.request('POST', '/auth/refresh', { json: { refresh_token: u.refresh_token } })).status).toBe(401);
    expect((await c.request('POST', '/auth/login', { json: { username: u.username, password: u.password } })).status).toBe(401);
    expect((await c.request('GET', `/admin/users/${u.id}`, { token: admin.access_token })).status).toBe(404);
    expect((await c.request('DELETE', `/admin/users/${u.id}`, { token: admin.access_token })).status).toBe(404);
    const left = await drizzle(c.env.DB).select().from(sessions).where(eq(sessions.userId, u.id)).all();
    expect(left).toEqual([]);
  });

  it('ending all sessions of a user revokes every token, including one whose session just expired', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    const u = await c.signedUp();
    const second = await c.login(u.username, u.password);
    // The second session reaches its absolute expiry; its last access token is still valid.
    c.clock.advance(60);
    await drizzle(c.env.DB).update(sessions).set({ expiresAt: c.clock.seconds - 1 }).where(eq(sessions.id, sidOf(second.access_token))).run();
    expect((await c.request('GET', '/api/private', { token: second.access_token })).status).toBe(200);

    const list = await json<{ sessions: { id: string }[] }>(await c.request('GET', `/admin/users/${u.id}/sessions`, { token: admin.access_token }));
    expect(list.sessions.map((s) => s.id)).toEqual([sidOf(u.access_token)]); // the expired one is not listed as active

    const res = await c.request('DELETE', `/admin/users/${u.id}/sessions`, { token: admin.access_token });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ sessions_ended: 2 });
    expect((await c.request('GET', '/api/private', { token: u.access_token })).status).toBe(401);
    expect((await c.request('GET', '/api/private', { token: second.access_token })).status).toBe(401);
    // The user can still log in: ending sessions is not disabling.
    await c.login(u.username, u.password);
  });

  it('unlock resets the failed-login counter and the lock', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    const u = await c.register();
    await drizzle(c.env.DB).update(users).set({ failedLogins: 7, lockedUntil: c.clock.seconds + 600 }).where(eq(users.id, u.id)).run();
    const res = await c.request('POST', `/admin/users/${u.id}/unlock`, { token: admin.access_token });
    expect(res.status).toBe(200);
    expect((await json<{ user: AdminUserView }>(res)).user).toMatchObject({ failed_logins: 0, locked_until: null });
    const row = await drizzle(c.env.DB).select().from(users).where(eq(users.id, u.id)).get();
    expect(row).toMatchObject({ failedLogins: 0, lockedUntil: null });
    expect((await c.request('POST', `/admin/users/${ANY_ID}/unlock`, { token: admin.access_token })).status).toBe(404);
  });
});

function sidOf(token: string): string {
  return (JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { sid: string }).sid;
}

describe('audit log', () => {
  it('records every event with actor, subject, ip, user agent and outcome, and no secret', async () => {
    const c = new Client(testEnv());
    const meta = { 'CF-Connecting-IP': '203.0.113.9', 'User-Agent': 'audit-test/1.0' };
    const adminName = uniqueName('auditadmin');
    const adminPassword = 'admin password for audit';
    const reg = await c.request('POST', '/auth/register', { json: { username: adminName, password: adminPassword }, headers: meta });
    const adminId = (await json<{ user: { id: string } }>(reg)).user.id;
    await setRoles(c, adminId, ['admin']);
    const admin = await json<TokenBody>(await c.request('POST', '/auth/login', { json: { username: adminName, password: adminPassword }, headers: meta }));

    const name = uniqueName('audited');
    const pw1 = 'first secret password';
    const pw2 = 'second secret password';
    const secrets: string[] = [pw1, pw2, adminPassword, admin.access_token, admin.refresh_token];
    const userId = (await json<{ user: { id: string } }>(await c.request('POST', '/auth/register', { json: { username: name, password: pw1 }, headers: meta }))).user.id;
    expect((await c.request('POST', '/auth/login', { json: { username: name, password: 'wrong password here' }, headers: meta })).status).toBe(401);
    secrets.push('wrong password here');
    const t1 = await json<TokenBody>(await c.request('POST', '/auth/login', { json: { username: name, password: pw1 }, headers: meta }));
    const r1 = await json<TokenBody>(await c.request('POST', '/auth/refresh', { json: { refresh_token: t1.refresh_token }, headers: meta }));
    c.clock.advance(60); // outside the reuse grace window
    expect((await c.request('POST', '/auth/refresh', { json: { refresh_token: t1.refresh_token }, headers: meta })).status).toBe(401);
    secrets.push(t1.access_token, t1.refresh_token, r1.access_token, r1.refresh_token);

    const t2 = await json<TokenBody>(await c.request('POST', '/auth/login', { json: { username: name, password: pw1 }, headers: meta }));
    expect((await c.request('POST', '/auth/password', { json: { current_password: pw1, new_password: pw2 }, token: t2.access_token, headers: meta })).status).toBe(204);
    expect((await c.request('POST', '/auth/logout', { token: t2.access_token, headers: meta })).status).toBe(204);
    const t3 = await json<TokenBody>(await c.request('POST', '/auth/login', { json: { username: name, password: pw2 }, headers: meta }));
    expect((await c.request('POST', '/auth/logout-all', { token: t3.access_token, headers: meta })).status).toBe(204);
    secrets.push(t2.access_token, t2.refresh_token, t3.access_token, t3.refresh_token);

    const as = { token: admin.access_token, headers: meta };
    expect((await c.request('PATCH', `/admin/users/${userId}`, { json: { roles: ['support'] }, ...as })).status).toBe(200);
    expect((await c.request('PATCH', `/admin/users/${userId}`, { json: { email: 'audited@example.com' }, ...as })).status).toBe(200);
    expect((await c.request('PATCH', `/admin/users/${userId}`, { json: { disabled: true }, ...as })).status).toBe(200);
    expect((await c.request('PATCH', `/admin/users/${userId}`, { json: { disabled: false }, ...as })).status).toBe(200);
    expect((await c.request('POST', `/admin/users/${userId}/unlock`, as)).status).toBe(200);
    expect((await c.request('DELETE', `/admin/users/${userId}/sessions`, as)).status).toBe(200);
    const row = await drizzle(c.env.DB).select().from(users).where(eq(users.id, userId)).get();
    secrets.push(row!.passwordHash);
    expect((await c.request('DELETE', `/admin/users/${userId}`, as)).status).toBe(204);

    // Every refresh token's stored form (its SHA-256) is a secret of the database too.
    for (const t of [admin, t1, r1, t2, t3]) secrets.push(await sha256(t.refresh_token));

    const res = await c.request('GET', `/admin/audit?user=${userId}&limit=200`, as);
    expect(res.status).toBe(200);
    const { events } = await json<{ events: AuditView[] }>(res);
    const kinds = events.map((e) => `${e.event}:${e.outcome}`).reverse();
    expect(kinds).toEqual([
      'register:success',
      'login:failure',
      'login:success',
      'refresh_reuse_detected:failure',
      'login:success',
      'password_change:success',
      'logout:success',
      'login:success',
      'logout_all:success',
      'role_change:success',
      'user_update:success',
      'user_disable:success',
      'user_enable:success',
      'user_unlock:success',
      'admin_sessions_end:success',
      'user_delete:success',
    ]);
    for (const e of events) {
      expect(e.ip).toBe('203.0.113.9');
      expect(e.user_agent).toBe('audit-test/1.0');
      expect(e.subject_id).toBe(userId);
      if (['role_change', 'user_update', 'user_disable', 'user_enable', 'user_unlock', 'admin_sessions_end', 'user_delete'].includes(e.event)) {
        expect(e.actor_id, e.event).toBe(adminId);
      }
    }
    expect(events.find((e) => e.event === 'role_change')!.detail).toEqual({ from: [], to: ['support'], sessions_ended: 0 });
    expect(events.find((e) => e.event === 'user_update')!.detail).toEqual({ fields: ['email'] });

    // No secret in any audit row, whichever column (and not the email either).
    const all = await drizzle(c.env.DB).select().from(auditLog).all();
    expect(all.length).toBeGreaterThanOrEqual(events.length);
    const dump = JSON.stringify(all);
    for (const secret of secrets) expect(dump.includes(secret), `audit contains a secret of length ${secret.length}`).toBe(false);
    expect(dump).not.toContain('audited@example.com');
    expect(dump).not.toContain('$argon2id$');
  });

  it('filters by event, actor and time range, newest first, in stable pages', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    const start = c.clock.seconds;
    const u = await c.register();
    for (let i = 0; i < 5; i++) {
      c.clock.advance(10);
      await c.request('POST', `/admin/users/${u.id}/unlock`, { token: admin.access_token });
    }
    const as = { token: admin.access_token };
    const byEvent = await json<{ events: AuditView[] }>(await c.request('GET', `/admin/audit?event=user_unlock&actor=${admin.id}`, as));
    expect(byEvent.events.map((e) => e.at)).toEqual([50, 40, 30, 20, 10].map((d) => start + d));

    const ranged = await json<{ events: AuditView[] }>(await c.request('GET', `/admin/audit?event=user_unlock&since=${start + 20}&until=${start + 40}`, as));
    expect(ranged.events.map((e) => e.at)).toEqual([start + 40, start + 30, start + 20]);

    const ids: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const qs: string = `event=user_unlock&user=${u.id}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await json<{ events: AuditView[]; next_cursor: string | null }>(await c.request('GET', `/admin/audit?${qs}`, as));
      ids.push(...page.events.map((e) => e.id));
      cursor = page.next_cursor;
      if (++pages === 1) await c.request('POST', `/admin/users/${u.id}/unlock`, as); // newer rows do not shift later pages
    } while (cursor && pages < 10);
    expect(ids).toEqual(byEvent.events.map((e) => e.id));
    expect(pages).toBe(3);

    const failures = await json<{ events: AuditView[] }>(await c.request('GET', `/admin/audit?outcome=failure&user=${u.id}`, as));
    expect(failures.events).toEqual([]);
  });
});
