// OAuth 2 machine clients: administration of clients, client_credentials (RFC 6749 section 4.4),
// introspection (RFC 7662) and revocation (RFC 7009), with RFC 6749 section 5.2 error shapes.
import { env } from 'cloudflare:workers';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { describe, expect, it } from 'vitest';
import { auditLog, oauthClients, users } from '../src/db/schema';
import { REVOCATION_CACHE_SECONDS } from '../src/tokens/revocation';
import { Client, errorOf, randomTestIp, testEnv, type TokenBody } from './helpers';

interface ClientView {
  client_id: string;
  name: string;
  roles: string[];
  disabled: boolean;
}

async function adminOf(c: Client): Promise<TokenBody & { id: string }> {
  const { id, username, password } = await c.register();
  await drizzle(c.env.DB).update(users).set({ roles: '["admin"]' }).where(eq(users.id, id)).run();
  return { ...(await c.login(username, password)), id };
}

async function newClient(c: Client, admin: TokenBody, roles: string[] = ['reports', 'billing']): Promise<{ id: string; secret: string }> {
  const res = await c.request('POST', '/admin/clients', { token: admin.access_token, json: { name: 'partner', roles } });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { client: ClientView; client_secret: string };
  return { id: body.client.client_id, secret: body.client_secret };
}

function form(params: Record<string, string>): string {
  return new URLSearchParams(params).toString();
}

function basic(id: string, secret: string): string {
  return `Basic ${btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)}`;
}

async function post(c: Client, path: string, params: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return c.request('POST', path, { body: form(params), headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers } });
}

async function token(c: Client, cl: { id: string; secret: string }, extra: Record<string, string> = {}): Promise<{ access_token: string; scope: string; expires_in: number }> {
  const res = await post(c, '/oauth/token', { grant_type: 'client_credentials', ...extra }, { Authorization: basic(cl.id, cl.secret) });
  expect(res.status).toBe(200);
  return (await res.json()) as { access_token: string; scope: string; expires_in: number };
}

describe('client_credentials', () => {
  it('issues a token for the client (basic and post auth); scope narrows the roles; no refresh token', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    const cl = await newClient(c, admin);
    const res = await post(c, '/oauth/token', { grant_type: 'client_credentials' }, { Authorization: basic(cl.id, cl.secret) });
    expect(res.status).toBe(200);
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 900, scope: 'reports billing' });
    expect(body).not.toHaveProperty('refresh_token');
    const payload = JSON.parse(atob((body.access_token as string).split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>;
    expect(payload).toMatchObject({ sub: cl.id, client_id: cl.id, roles: ['reports', 'billing'] });

    const posted = await post(c, '/oauth/token', { grant_type: 'client_credentials', client_id: cl.id, client_secret: cl.secret, scope: 'reports' });
    expect(posted.status).toBe(200);
    const narrowed = (await posted.json()) as { access_token: string; scope: string };
    expect(narrowed.scope).toBe('reports');

    // The token works wherever access tokens do, as a client subject.
    const api = await c.request('GET', '/api/private', { token: narrowed.access_token });
    expect(api.status).toBe(200);
    expect(((await api.json()) as { user: { id: string; roles: string[] } }).user).toMatchObject({ id: cl.id, roles: ['reports'] });
    // Not where a user session is needed, nor on the admin API.
    expect((await c.request('POST', '/auth/logout-all', { token: narrowed.access_token })).status).toBe(403);
    expect((await c.request('GET', '/auth/me', { token: narrowed.access_token })).status).toBe(403);
    const audits = await drizzle(env.DB).select().from(auditLog).where(eq(auditLog.subjectId, cl.id));
    expect(audits.map((a) => a.event)).toEqual(expect.arrayContaining(['client_create', 'client_token']));
    expect(JSON.stringify(audits)).not.toContain(cl.secret);
  });

  it('answers RFC 6749 section 5.2 errors', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    const cl = await newClient(c, admin);
    const cases: [Record<string, string>, Record<string, string>, number, string][] = [
      [{ grant_type: 'client_credentials' }, { Authorization: basic(cl.id, 'ecs_wrong') }, 401, 'invalid_client'],
      [{ grant_type: 'client_credentials' }, {}, 401, 'invalid_client'],
      [{ grant_type: 'password', username: 'a', password: 'b' }, { Authorization: basic(cl.id, cl.secret) }, 400, 'unsupported_grant_type'],
      [{ grant_type: 'client_credentials', scope: 'admin' }, { Authorization: basic(cl.id, cl.secret) }, 400, 'invalid_scope'],
      [{}, { Authorization: basic(cl.id, cl.secret) }, 400, 'invalid_request'],
      [{ grant_type: 'client_credentials', client_id: cl.id, client_secret: cl.secret }, { Authorization: basic(cl.id, cl.secret) }, 400, 'invalid_request'],
    ];
    for (const [params, headers, status, error] of cases) {
      const res = await post(c, '/oauth/token', params, headers);
      expect(res.status, JSON.stringify(params)).toBe(status);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body.error).toBe(error);
      expect(typeof body.error_description).toBe('string');
      expect(body).not.toHaveProperty('message');
      if (status === 401) expect(res.headers.get('WWW-Authenticate')).toMatch(/^Basic realm=/);
    }
    const json = await c.request('POST', '/oauth/token', { json: { grant_type: 'client_credentials' } });
    expect(json.status).toBe(400);
    expect(((await json.json()) as { error: string }).error).toBe('invalid_request');
    const twice = await c.request('POST', '/oauth/token', { body: 'grant_type=client_credentials&grant_type=client_credentials', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(cl.id, cl.secret) } });
    expect(twice.status).toBe(400);
  });

  it('locks a client out after repeated wrong secrets, like a password', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    const cl = await newClient(c, admin);
    for (let i = 0; i < 5; i++) {
      expect((await post(c, '/oauth/token', { grant_type: 'client_credentials' }, { Authorization: basic(cl.id, `ecs_guess${i}`), 'CF-Connecting-IP': randomTestIp() })).status).toBe(401);
    }
    // Locked: even the right secret is refused, with the same answer.
    const locked = await post(c, '/oauth/token', { grant_type: 'client_credentials' }, { Authorization: basic(cl.id, cl.secret) });
    expect(locked.status).toBe(401);
    expect(((await locked.json()) as { error: string }).error).toBe('invalid_client');
    const [row] = await drizzle(env.DB).select().from(oauthClients).where(eq(oauthClients.id, cl.id));
    expect(row!.lockedUntil).toBeGreaterThan(c.clock.seconds);
    c.clock.advance(61);
    expect((await post(c, '/oauth/token', { grant_type: 'client_credentials' }, { Authorization: basic(cl.id, cl.secret) })).status).toBe(200);
  });
});

describe('client administration', () => {
  it('rotation keeps the old secret for the overlap; disable and narrowing revoke outstanding tokens; delete', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    const cl = await newClient(c, admin);
    const before = await token(c, cl);

    const rotated = await c.request('POST', `/admin/clients/${cl.id}/rotate-secret`, { token: admin.access_token });
    expect(rotated.status).toBe(200);
    const fresh = { id: cl.id, secret: ((await rotated.json()) as { client_secret: string }).client_secret };
    expect(fresh.secret).not.toBe(cl.secret);
    await token(c, cl); // old secret: still valid within the overlap
    await token(c, fresh);
    c.clock.advance(86_401);
    expect((await post(c, '/oauth/token', { grant_type: 'client_credentials' }, { Authorization: basic(cl.id, cl.secret) })).status).toBe(401);

    const current = await token(c, fresh, { scope: 'billing' });
    expect((await c.request('GET', '/api/private', { token: current.access_token })).status).toBe(200);
    // Narrowed: tokens issued before lose their rights.
    const patch = await c.request('PATCH', `/admin/clients/${cl.id}`, { token: (await c.login(...(await credentialsOf(c, admin.id)))).access_token, json: { roles: ['reports'] } });
    expect(patch.status).toBe(200);
    c.clock.advance(REVOCATION_CACHE_SECONDS + 1);
    expect((await c.request('GET', '/api/private', { token: current.access_token })).status).toBe(401);
    c.clock.advance(1);
    const afterNarrowing = await token(c, fresh);
    expect(afterNarrowing.scope).toBe('reports');
    expect((await c.request('GET', '/api/private', { token: afterNarrowing.access_token })).status).toBe(200);

    const boss = (await c.login(...(await credentialsOf(c, admin.id)))).access_token;
    expect((await c.request('PATCH', `/admin/clients/${cl.id}`, { token: boss, json: { disabled: true } })).status).toBe(200);
    c.clock.advance(REVOCATION_CACHE_SECONDS + 1);
    expect((await c.request('GET', '/api/private', { token: afterNarrowing.access_token })).status).toBe(401);
    expect((await post(c, '/oauth/token', { grant_type: 'client_credentials' }, { Authorization: basic(fresh.id, fresh.secret) })).status).toBe(401);

    const list = await c.request('GET', '/admin/clients', { token: boss });
    expect(((await list.json()) as { clients: ClientView[] }).clients.find((x) => x.client_id === cl.id)).toMatchObject({ disabled: true, roles: ['reports'] });
    expect(JSON.stringify(await (await c.request('GET', `/admin/clients/${cl.id}`, { token: boss })).json())).not.toMatch(/secret_hash|ecs_/);
    expect((await c.request('DELETE', `/admin/clients/${cl.id}`, { token: boss })).status).toBe(204);
    expect((await c.request('GET', `/admin/clients/${cl.id}`, { token: boss })).status).toBe(404);
    expect(before.access_token).toBeTruthy();
  });

  it('only administrators manage clients; a client token cannot use the admin API', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    const user = await c.signedUp();
    expect((await c.request('POST', '/admin/clients', { token: user.access_token, json: { name: 'x', roles: [] } })).status).toBe(403);
    const cl = await newClient(c, admin, ['admin']);
    const t = await token(c, cl);
    const res = await c.request('GET', '/admin/clients', { token: t.access_token });
    expect(res.status).toBe(403);
    expect((await errorOf(res)).error).toBe('forbidden');
  });
});

async function credentialsOf(c: Client, id: string): Promise<[string, string]> {
  const [row] = await drizzle(c.env.DB).select({ username: users.username }).from(users).where(eq(users.id, id));
  return [row!.username, 'correct horse battery'];
}

describe('introspection and revocation', () => {
  it('introspects every kind of credential, live and dead; revokes refresh tokens, access tokens and API keys', async () => {
    const c = new Client(testEnv());
    const admin = await adminOf(c);
    const rs = await newClient(c, admin, ['reports']); // the resource server asking
    const auth = { Authorization: basic(rs.id, rs.secret) };
    const u = await c.signedUp();
    const key = ((await (await c.request('POST', '/auth/api-keys', { token: u.access_token, json: { name: 'k' } })).json()) as { api_key: string }).api_key;
    const ct = await token(c, rs);

    const look = async (t: string) => (await (await post(c, '/oauth/introspect', { token: t }, auth)).json()) as Record<string, unknown>;
    expect(await look(u.access_token)).toMatchObject({ active: true, sub: u.id, subject_type: 'user', token_type: 'Bearer', scope: '', username: u.username });
    expect(await look(key)).toMatchObject({ active: true, sub: u.id, subject_type: 'api_key', token_type: 'api_key' });
    expect(await look(ct.access_token)).toMatchObject({ active: true, sub: rs.id, client_id: rs.id, subject_type: 'client', scope: 'reports' });
    for (const dead of ['garbage', `${u.access_token}x`, u.refresh_token, 'eak_' + 'a'.repeat(49)]) expect(await look(dead)).toEqual({ active: false });
    // Without client authentication: refused.
    expect((await post(c, '/oauth/introspect', { token: u.access_token })).status).toBe(401);

    // Revocation: 200 whatever the token; each kind stops working.
    for (const t of ['not a token', key, u.refresh_token, ct.access_token]) expect((await post(c, '/oauth/revoke', { token: t }, auth)).status).toBe(200);
    expect(await look(key)).toEqual({ active: false });
    expect((await c.request('POST', '/auth/refresh', { json: { refresh_token: u.refresh_token } })).status).toBe(401);
    expect(await look(ct.access_token)).toEqual({ active: false });
    const other = await c.login(u.username, u.password);
    expect((await post(c, '/oauth/revoke', { token: other.access_token, token_type_hint: 'access_token' }, auth)).status).toBe(200);
    expect(await look(other.access_token)).toEqual({ active: false });
    expect((await c.request('POST', '/auth/refresh', { json: { refresh_token: other.refresh_token } })).status).toBe(401); // the session ended with it
  });
});
