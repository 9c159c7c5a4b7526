// Issue 13: the gateway in workerd, who gets through (roles, fresh, optional and anonymous routes,
// the CSRF matrix) and what happens when the upstream fails (502, 504, the log event). What
// crosses the gateway: test/gateway.test.ts.
import { drizzle } from 'drizzle-orm/d1';
import { eq } from 'drizzle-orm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { users } from '../src/db/schema';
import { faultyEnv, Faults } from './bindings';
import { Client, errorOf, testEnv, type RequestOptions } from './helpers';
import { cookieSession, echo, gatewayClient, ORIGIN, recorded, ROUTES, setRoles, userWith, verifyAssertion } from './gateway-helpers';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('who gets through', () => {
  it('roles matrix: none 401, wrong role 403, either listed role 200; bad token 401 with its challenge', async () => {
    const c = gatewayClient();
    const anonymous = await c.request('GET', '/svc/admin/x');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('WWW-Authenticate')).toBe('Bearer realm="edge-auth"');
    const bad = await c.request('GET', '/svc/admin/x', { token: 'a.b.c' });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('WWW-Authenticate')).toMatch(/error="invalid_token"/);
    const cases: [string[], number][] = [[[], 403], [['editor'], 403], [['ops'], 200], [['admin'], 200], [['editor', 'admin'], 200]];
    for (const [roles, status] of cases) {
      const user = await userWith(c, roles);
      const res = await c.request('GET', '/svc/admin/x', { token: user.access_token });
      expect(res.status, roles.join(',')).toBe(status);
      if (status === 403) {
        expect((await errorOf(res)).error).toBe('insufficient_scope');
        expect(res.headers.get('WWW-Authenticate')).toBe('Bearer realm="edge-auth", error="insufficient_scope", scope="admin ops"');
      } else {
        expect((await echo(res)).path).toBe('/admin/x');
      }
    }
  });

  it('fresh routes read the user from D1: a demoted or disabled admin is refused at once', async () => {
    const c = gatewayClient();
    const admin = await userWith(c, ['admin']);
    expect((await c.request('GET', '/svc/fresh/x', { token: admin.access_token })).status).toBe(200);
    await setRoles(c, admin.id, []);
    expect((await c.request('GET', '/svc/fresh/x', { token: admin.access_token })).status).toBe(403);
    // Claims-only routes go by the token until it is refreshed (or revoked).
    expect((await c.request('GET', '/svc/admin/x', { token: admin.access_token })).status).toBe(200);
    await drizzle(c.env.DB).update(users).set({ roles: '["admin"]', disabled: true }).where(eq(users.id, admin.id)).run();
    expect((await c.request('GET', '/svc/fresh/x', { token: admin.access_token })).status).toBe(401);
  });

  it('an API key (Bearer or X-API-Key) passes as subject api_key; the key never reaches the upstream', async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    const res = await c.request('POST', '/auth/api-keys', { token: user.access_token, json: { name: 'gateway', roles: [] } });
    expect(res.status).toBe(201);
    const { api_key: key, key: view } = (await res.json()) as { api_key: string; key: { id: string } };
    for (const headers of [{ Authorization: `Bearer ${key}` }, { 'X-API-Key': key }] as Record<string, string>[]) {
      const got = await echo(await c.request('GET', '/svc/x', { headers }));
      expect(got.headers['x-edge-auth-subject-type']).toBe('api_key');
      expect(got.headers['x-edge-auth-user-id']).toBe(user.id);
      expect(got.headers['x-edge-auth-session-id']).toBe(view.id);
      expect(JSON.stringify(got.headers)).not.toContain(key);
      const { payload } = await verifyAssertion(c, got.headers['x-edge-auth-assertion']!, 'service:UPSTREAM');
      expect(payload.subject_type).toBe('api_key');
    }
    // On an anonymous route the key is not checked, and still never forwarded.
    const open = await echo(await c.request('GET', '/svc/open/x', { headers: { 'X-API-Key': key } }));
    expect(open.headers['x-api-key']).toBeUndefined();
  });

  it('subjects: a route for people refuses an API key with 403 before anything reaches the upstream', async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    const res = await c.request('POST', '/auth/api-keys', { token: user.access_token, json: { name: 'not a person', roles: [] } });
    expect(res.status).toBe(201);
    const { api_key: key } = (await res.json()) as { api_key: string };
    for (const path of ['/svc/people/x?marker=subj-key', '/svc/people-maybe/x?marker=subj-key-optional']) {
      const refused = await c.request('GET', path, { headers: { 'X-API-Key': key } });
      expect(refused.status, path).toBe(403);
      expect(await errorOf(refused), path).toMatchObject({ error: 'forbidden', message: 'This route needs a signed-in user.' });
    }
    expect(await recorded()).not.toContain('subj-key');
    expect(await recorded()).not.toContain('subj-key-optional');
    // The same user's session passes; the optional route still takes anonymous callers.
    expect((await echo(await c.request('GET', '/svc/people/x', { token: user.access_token }))).headers['x-edge-auth-subject-type']).toBe('user');
    expect((await echo(await c.request('GET', '/svc/people-maybe/x'))).headers['x-edge-auth-subject-type']).toBe('anonymous');
  });

  it('a revoked session is refused (logout)', async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    expect((await c.request('POST', '/auth/logout', { token: user.access_token, json: {} })).status).toBe(204);
    expect((await c.request('GET', '/svc/x', { token: user.access_token })).status).toBe(401);
  });

  it('auth none forwards anonymously, even when a token is sent (and strips the token)', async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    for (const options of [{}, { token: user.access_token }, { token: 'garbage' }] as RequestOptions[]) {
      const got = await echo(await c.request('GET', '/svc/open/x', options));
      expect(got.headers['x-edge-auth-subject-type']).toBe('anonymous');
      expect(got.headers['x-edge-auth-user-id']).toBeUndefined();
      expect(got.headers.authorization).toBeUndefined();
      const { payload } = await verifyAssertion(c, got.headers['x-edge-auth-assertion']!, 'service:UPSTREAM');
      expect(payload.subject_type).toBe('anonymous');
      expect(payload.sub).toBeUndefined();
    }
  });

  it('auth optional: anonymous without a token, the identity with a valid one, 401 for an invalid one', async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    expect((await echo(await c.request('GET', '/svc/maybe/x'))).headers['x-edge-auth-subject-type']).toBe('anonymous');
    expect((await echo(await c.request('GET', '/svc/maybe/x', { token: user.access_token }))).headers['x-edge-auth-user-id']).toBe(user.id);
    const bad = await c.request('GET', '/svc/maybe/x?marker=opt-bad', { token: `${user.access_token}x` });
    expect(bad.status).toBe(401);
    expect((await errorOf(bad)).error).toBe('invalid_token');
    expect(await recorded()).not.toContain('opt-bad');
    // Another scheme is the application's business: passed on, caller anonymous.
    const basic = await echo(await c.request('GET', '/svc/maybe/x', { headers: { Authorization: 'Basic dXNlcjpwdw==' } }));
    expect(basic.headers.authorization).toBe('Basic dXNlcjpwdw==');
    expect(basic.headers['x-edge-auth-subject-type']).toBe('anonymous');
  });

  it('CSRF matrix on proxied unsafe methods in cookie mode; refused requests never reach the upstream', async () => {
    const c = gatewayClient();
    const s = await cookieSession(c);
    const other = await userWith(c, []);
    const cases: [string, Record<string, string>, string | undefined, number][] = [
      ['good', { Origin: ORIGIN, 'X-CSRF-Token': s.csrf }, undefined, 200],
      ['no-token', { Origin: ORIGIN }, undefined, 403],
      ['wrong-token', { Origin: ORIGIN, 'X-CSRF-Token': `${s.csrf}x` }, undefined, 403],
      ['foreign-origin', { Origin: 'https://evil.example', 'X-CSRF-Token': s.csrf }, undefined, 403],
      ['null-origin', { Origin: 'null', 'X-CSRF-Token': s.csrf }, undefined, 403],
      ['no-origin-cross-site', { 'Sec-Fetch-Site': 'cross-site', 'X-CSRF-Token': s.csrf }, undefined, 403],
      ['no-origin-same-origin', { 'Sec-Fetch-Site': 'same-origin', 'X-CSRF-Token': s.csrf }, undefined, 200],
      ['bearer-no-origin', {}, other.access_token, 200],
    ];
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      for (const [name, headers, token, status] of cases) {
        const marker = `csrf-${method}-${name}`;
        const res = await c.request(method, `/svc/notes?marker=${marker}`, { token, headers: token ? headers : { ...headers, Cookie: s.cookie }, body: '{}' });
        expect(res.status, marker).toBe(status);
        if (status === 403) expect((await errorOf(res)).error).toBe('csrf_failed');
        expect((await recorded()).includes(marker), marker).toBe(status === 200);
      }
    }
    // Safe methods need no CSRF token.
    expect((await c.request('GET', '/svc/notes', { headers: { Cookie: s.cookie } })).status).toBe(200);
  });
});

describe('failures and the log', () => {
  it('502 bad_gateway when the upstream fails or is unreachable, 504 gateway_timeout when it is slow; never its address', async () => {
    const lines: string[] = [];
    for (const level of ['log', 'warn', 'error'] as const) vi.spyOn(console, level).mockImplementation((line: unknown) => void lines.push(String(line)));
    const c = gatewayClient();
    const user = await userWith(c, []);
    for (const [path, status, code] of [['/svc/broken/x', 502, 'bad_gateway'], ['/svc/down/x', 502, 'bad_gateway'], ['/svc/quick/slow?ms=3000', 504, 'gateway_timeout']] as const) {
      const res = await c.request('GET', path, { token: user.access_token });
      expect(res.status, path).toBe(status);
      const text = await res.text();
      expect(JSON.parse(text).error).toBe(code);
      expect(text).not.toMatch(/127\.0\.0\.1|10\.0\.0\.9|UPSTREAM|BROKEN/);
      const requestId = res.headers.get('X-Request-Id');
      const event = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === 'gateway.request' && l.requestId === requestId);
      expect(event).toMatchObject({ status, error: code, userId: user.id });
    }
    expect(lines.join('\n')).not.toMatch(/127\.0\.0\.1|10\.0\.0\.9/);
    // A quick answer on the same short-timeout route is fine.
    expect((await c.request('GET', '/svc/quick/slow?ms=10', { token: user.access_token })).status).toBe(200);
  });

  it('one gateway.request event per proxied request: subject, route, status, bytes, duration; nothing secret', async () => {
    const lines: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((line: unknown) => void lines.push(String(line)));
    const c = gatewayClient();
    const user = await userWith(c, []);
    lines.length = 0;
    const res = await c.request('POST', '/svc/notes', { token: user.access_token, body: 'twelve bytes' });
    await res.text();
    const refused = await c.request('GET', '/svc/admin/x', { token: user.access_token });
    // A method no route on the path takes: no route matched, still one event.
    const notAllowed = await c.request('DELETE', '/ro/x', { token: user.access_token });
    expect(notAllowed.status).toBe(405);
    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === 'gateway.request');
    expect(events).toHaveLength(3);
    expect(events[2]).toMatchObject({ method: 'DELETE', status: 405, error: 'method_not_allowed', requestId: notAllowed.headers.get('X-Request-Id') });
    expect(events[0]).toMatchObject({ level: 'info', route: '/svc/*', method: 'POST', status: 200, userId: user.id, subjectType: 'user', bytesIn: 12, requestId: res.headers.get('X-Request-Id') });
    expect(events[0]!.bytesOut).toBeGreaterThan(0);
    expect(typeof events[0]!.durationMs).toBe('number');
    expect(events[1]).toMatchObject({ route: '/svc/admin/*', status: 403, error: 'insufficient_scope', requestId: refused.headers.get('X-Request-Id') });
    expect(lines.join('\n')).not.toContain(user.access_token);
    expect(lines.join('\n')).not.toContain(user.username);
  });

  it('503 temporarily_unavailable when edge-auth cannot check revocation (KV and D1 down); nothing is forwarded', async () => {
    const lines: string[] = [];
    for (const level of ['log', 'warn', 'error'] as const) vi.spyOn(console, level).mockImplementation((line: unknown) => void lines.push(String(line)));
    const faults = new Faults();
    const c = new Client(faultyEnv(testEnv({ GATEWAY_ROUTES: ROUTES }), faults));
    const user = await userWith(c, []);
    faults.kvRead = 'error';
    faults.d1 = 'error';
    const res = await c.request('GET', '/svc/x?marker=fault-503', { token: user.access_token });
    faults.heal();
    expect(res.status).toBe(503);
    expect((await errorOf(res)).error).toBe('temporarily_unavailable');
    expect(res.headers.get('Retry-After')).toMatch(/^\d+$/);
    expect(await recorded()).not.toContain('fault-503');
    const event = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === 'gateway.request' && l.requestId === res.headers.get('X-Request-Id'));
    expect(event).toMatchObject({ status: 503, error: 'temporarily_unavailable' });
  });

  it("edge-auth's own routes and unknown paths are untouched by the table", async () => {
    const c = gatewayClient();
    expect((await c.request('GET', '/health')).status).toBe(200);
    const res = await c.request('GET', '/nothing-here');
    expect(res.status).toBe(404);
    expect((await errorOf(res)).error).toBe('not_found');
  });
});
