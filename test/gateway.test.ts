// Issue 13: the gateway in workerd. The upstream is a second Worker behind the UPSTREAM service
// binding (test/gateway-upstream.js) that answers with what it received and records markers, so a
// refused request can be shown never to have arrived.
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { drizzle } from 'drizzle-orm/d1';
import { eq } from 'drizzle-orm';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { users } from '../src/db/schema';
import { ASSERTION_TYPE } from '../src/gateway/assertion';
import { Client, errorOf, T0, testEnv, uniqueName, type RequestOptions } from './helpers';

const ROUTES = [
  { path: '/svc/open/*', auth: 'none', upstream: 'service:UPSTREAM', strip_prefix: '/svc/open' },
  { path: '/svc/maybe/*', auth: 'optional', upstream: 'service:UPSTREAM', strip_prefix: '/svc/maybe' },
  { path: '/svc/admin/*', roles: ['admin', 'ops'], upstream: 'service:UPSTREAM', strip_prefix: '/svc' },
  { path: '/svc/fresh/*', roles: ['admin'], fresh: true, upstream: 'service:UPSTREAM', strip_prefix: '/svc' },
  { path: '/svc/get-only', methods: ['GET'], upstream: 'service:UPSTREAM' },
  { path: '/ro/*', methods: ['GET', 'HEAD'], upstream: 'service:UPSTREAM' },
  { path: '/svc/small/*', max_body_bytes: 16, upstream: 'service:UPSTREAM', strip_prefix: '/svc/small' },
  { path: '/svc/quick/*', timeout_ms: 500, upstream: 'service:UPSTREAM', strip_prefix: '/svc/quick' },
  { path: '/svc/broken/*', upstream: 'service:BROKEN' },
  { path: '/svc/down/*', upstream: 'http://127.0.0.1:1' },
  { path: '/svc/*', upstream: 'service:UPSTREAM', strip_prefix: '/svc' },
];

const ORIGIN = 'http://localhost'; // the test requests' own origin

interface Echo {
  method: string;
  url: string;
  path: string;
  search: string;
  headers: Record<string, string>;
  bodyLength: number | null;
  bodySha256: string | null;
}

function gatewayClient(): Client {
  return new Client(testEnv({ GATEWAY_ROUTES: ROUTES }));
}

async function echo(res: Response): Promise<Echo> {
  expect(res.status, await res.clone().text()).toBe(200);
  expect(res.headers.get('X-Upstream')).toBe('echo');
  return (await res.json()) as Echo;
}

async function setRoles(c: Client, id: string, roles: string[]): Promise<void> {
  await drizzle(c.env.DB).update(users).set({ roles: JSON.stringify(roles) }).where(eq(users.id, id)).run();
}

/** A user holding `roles`, logged in (bearer). */
async function userWith(c: Client, roles: string[]) {
  const { id, username, password } = await c.register();
  if (roles.length > 0) await setRoles(c, id, roles);
  return { id, username, ...(await c.login(username, password)) };
}

/** A cookie-mode session: the Cookie header a browser would send to `/`, and the CSRF token. */
async function cookieSession(c: Client): Promise<{ cookie: string; csrf: string; id: string }> {
  const { id, username, password } = await c.register(uniqueName('gw'));
  const res = await c.request('POST', '/auth/login', { json: { username, password, mode: 'cookie' }, headers: { Origin: ORIGIN } });
  expect(res.status).toBe(200);
  const jar = new Map(res.headers.getSetCookie().map((line) => {
    const pair = line.split(';', 1)[0]!;
    return [pair.slice(0, pair.indexOf('=')), pair] as const;
  }));
  return { cookie: [jar.get('__Host-edge_access'), jar.get('__Host-edge_csrf')].join('; '), csrf: jar.get('__Host-edge_csrf')!.split('=')[1]!, id };
}

async function recorded(): Promise<string[]> {
  return (await (await env.UPSTREAM.fetch('http://upstream/__recorded')).json()) as string[];
}

async function verifyAssertion(c: Client, assertion: string, audience: string) {
  const jwks = (await (await c.request('GET', '/.well-known/jwks.json')).json()) as JSONWebKeySet;
  return jwtVerify(assertion, createLocalJWKSet(jwks), { issuer: c.config.issuer, audience, typ: ASSERTION_TYPE, currentDate: new Date(c.clock.seconds * 1000) });
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('what the upstream receives', () => {
  it('identity headers and a signed assertion: aud = the upstream, typ distinct, at most 60 s', async () => {
    const c = gatewayClient();
    const user = await userWith(c, ['ops']);
    const res = await c.request('GET', '/svc/items', { token: user.access_token });
    const got = await echo(res);
    expect(got.headers['x-edge-auth-user-id']).toBe(user.id);
    expect(got.headers['x-edge-auth-username']).toBe(user.username);
    expect(got.headers['x-edge-auth-roles']).toBe('ops');
    expect(got.headers['x-edge-auth-subject-type']).toBe('user');
    expect(got.headers['x-edge-auth-session-id']).toMatch(/.+/);
    expect(got.headers['x-request-id']).toBe(res.headers.get('X-Request-Id'));

    const assertion = got.headers['x-edge-auth-assertion']!;
    expect(decodeProtectedHeader(assertion).typ).toBe('edge-auth-assertion+jwt');
    const { payload } = await verifyAssertion(c, assertion, 'service:UPSTREAM');
    expect(payload).toMatchObject({ sub: user.id, username: user.username, roles: ['ops'], subject_type: 'user', iat: T0, sid: got.headers['x-edge-auth-session-id'] });
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(60);
  });

  it('edge-auth itself refuses the assertion as an access token', async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    const assertion = (await echo(await c.request('GET', '/svc/x', { token: user.access_token }))).headers['x-edge-auth-assertion']!;
    for (const path of ['/api/private', '/auth/me', '/svc/x']) {
      const res = await c.request('GET', path, { token: assertion });
      expect(res.status, path).toBe(401);
      expect((await errorOf(res)).error).toBe('invalid_token');
    }
  });

  it('reuses the assertion within its life, and signs a new one near its end or for a new token', async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    const first = (await echo(await c.request('GET', '/svc/a', { token: user.access_token }))).headers['x-edge-auth-assertion'];
    c.clock.advance(30);
    const again = (await echo(await c.request('GET', '/svc/b', { token: user.access_token }))).headers['x-edge-auth-assertion'];
    expect(again).toBe(first);
    c.clock.advance(20); // 10 s left: too close to its end
    const renewed = (await echo(await c.request('GET', '/svc/b', { token: user.access_token }))).headers['x-edge-auth-assertion'];
    expect(renewed).not.toBe(first);
    const other = await c.login(user.username, 'correct horse battery');
    const forOther = (await echo(await c.request('GET', '/svc/b', { token: other.access_token }))).headers['x-edge-auth-assertion'];
    expect(forOther).not.toBe(renewed);
  });

  it('strips the bearer token, spoofed identity and forwarding headers, and hop-by-hop headers', async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    const got = await echo(await c.request('GET', '/svc/x', {
      token: user.access_token,
      headers: {
        'X-Edge-Auth-User-Id': 'someone-else',
        'X-Edge-Auth-Roles': 'admin',
        'X-Edge-Auth-Impersonate': 'admin',
        'X-Edge-Auth-Assertion': 'forged',
        'X-Forwarded-For': '6.6.6.6',
        Forwarded: 'for=6.6.6.6',
        'X-Real-IP': '6.6.6.6',
        'X-Request-Id': 'chosen-by-client',
        'CF-Connecting-IP': '203.0.113.9',
        Connection: 'X-Drop-Me',
        'X-Drop-Me': 'named in Connection',
        'Keep-Alive': 'timeout=5',
        TE: 'trailers',
        'X-App-Header': 'kept',
      },
    }));
    const h = got.headers;
    expect(h.authorization).toBeUndefined();
    expect(h['x-edge-auth-user-id']).toBe(user.id);
    expect(h['x-edge-auth-roles']).toBe('');
    expect(h['x-edge-auth-impersonate']).toBeUndefined();
    expect(h['x-edge-auth-assertion']).not.toBe('forged');
    expect(h['x-forwarded-for']).toBe('203.0.113.9');
    expect(h.forwarded).toBeUndefined();
    expect(h['x-real-ip']).toBeUndefined();
    expect(h['x-request-id']).not.toBe('chosen-by-client');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-host']).toBe('localhost');
    expect(h['x-drop-me']).toBeUndefined();
    expect(h['keep-alive']).toBeUndefined();
    expect(h.te).toBeUndefined();
    expect(h['x-app-header']).toBe('kept');
  });

  it("removes edge-auth's cookies and keeps the application's", async () => {
    const c = gatewayClient();
    const session = await cookieSession(c);
    const got = await echo(await c.request('GET', '/svc/x', {
      headers: { Cookie: `app_theme=dark; ${session.cookie}; __Secure-edge_refresh=r; edge_access=plain; app_session=abc` },
    }));
    expect(got.headers.cookie).toBe('app_theme=dark; app_session=abc');
    expect(got.headers['x-edge-auth-user-id']).toBe(session.id);
    const only = await echo(await c.request('GET', '/svc/x', { headers: { Cookie: session.cookie } }));
    expect(only.headers.cookie).toBeUndefined();
  });

  it('path with the prefix stripped, query untouched; exact patterns and segment boundaries', async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    const got = await echo(await c.request('GET', '/svc/a/b%20c/?x=1&y=%2F&x=2', { token: user.access_token }));
    expect(got.path).toBe('/a/b%20c/');
    expect(got.search).toBe('?x=1&y=%2F&x=2');
    expect(got.url).toBe('http://localhost/a/b%20c/?x=1&y=%2F&x=2');
    expect((await echo(await c.request('GET', '/svc', { token: user.access_token }))).path).toBe('/');
    expect((await echo(await c.request('GET', '/svc/get-only', { token: user.access_token }))).path).toBe('/svc/get-only'); // no strip_prefix
    expect((await c.request('GET', '/svc/get-only/more', { token: user.access_token })).status).toBe(200); // falls to /svc/*
    expect((await c.request('GET', '/svcx/a', { token: user.access_token })).status).toBe(404);
  });

  it('every method, with its body streamed byte for byte', async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    const body = 'x'.repeat(1000) + '\u00e9';
    const digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(body)))].map((b) => b.toString(16).padStart(2, '0')).join('');
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const got = await echo(await c.request(method, '/svc/m', { token: user.access_token, body }));
      expect(got.method).toBe(method);
      expect(got.bodyLength).toBe(1002);
      expect(got.bodySha256).toBe(digest);
    }
    for (const method of ['GET', 'OPTIONS']) expect((await echo(await c.request(method, '/svc/m', { token: user.access_token }))).method).toBe(method);
    const head = await c.request('HEAD', '/svc/m', { token: user.access_token });
    expect(head.status).toBe(200);
    expect(head.headers.get('X-Upstream')).toBe('echo');
  });

  it('a chunked body (no Content-Length) streams through', async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    const chunks = ['one,', 'two,', 'three'];
    const stream = new ReadableStream({
      pull(controller) {
        const next = chunks.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(next));
      },
    });
    const res = await c.app.fetch(new Request('http://localhost/svc/up', { method: 'POST', body: stream, headers: { Authorization: `Bearer ${user.access_token}` } }), c.env);
    expect((await echo(res)).bodyLength).toBe(13);
  });

  it('405 with Allow for a method the route does not take; 413 past the body limit, declared or streamed', async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    const res = await c.request('POST', '/ro/x?marker=m405', { token: user.access_token, body: 'x' });
    expect(res.status).toBe(405);
    expect(res.headers.get('Allow')).toBe('GET, HEAD');
    expect((await errorOf(res)).error).toBe('method_not_allowed');
    // Declared too large: refused before anything is sent.
    const declared = await c.request('POST', '/svc/small/x?marker=m413', { token: user.access_token, body: 'x'.repeat(17), headers: { 'Content-Length': '17' } });
    expect(declared.status).toBe(413);
    expect((await echo(await c.request('POST', '/svc/small/x', { token: user.access_token, body: 'x'.repeat(16), headers: { 'Content-Length': '16' } }))).bodyLength).toBe(16);
    // Streamed (no Content-Length) past the limit: cut off, and the upstream request cancelled, so
    // the upstream never takes a truncated body for a whole one.
    const big = new ReadableStream({
      async start(controller) {
        controller.enqueue(new Uint8Array(10));
        await new Promise((resolve) => setTimeout(resolve, 50));
        controller.enqueue(new Uint8Array(10));
        controller.close();
      },
    });
    const chunked = await c.app.fetch(new Request('http://localhost/svc/small/x?marker=m413s', { method: 'POST', body: big, headers: { Authorization: `Bearer ${user.access_token}` } }), c.env);
    expect(chunked.status).toBe(413);
    expect((await errorOf(chunked)).error).toBe('payload_too_large');
    const seen = await recorded();
    expect(seen).not.toContain('m405');
    expect(seen).not.toContain('m413');
    expect(seen.filter((m) => m.startsWith('m413s:read'))).toEqual([]);
  });
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

describe('what the client receives', () => {
  it("Set-Cookie for edge-auth's cookies is dropped, the application's kept; hop-by-hop removed", async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    const res = await c.request('GET', '/svc/set-cookie', { token: user.access_token });
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie()).toEqual(['app_theme=dark; Path=/; Secure', 'app_session=abc; Path=/; Secure; HttpOnly']);
    expect(res.headers.get('Keep-Alive')).toBeNull();
    expect(res.headers.get('X-Custom')).toBe('kept');
  });

  it('redirects are passed on, not followed; statuses as the upstream sent them', async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    const res = await c.request('GET', '/svc/redirect', { token: user.access_token });
    expect(res.status).toBe(302);
    expect(res.headers.get('Location')).toBe('/elsewhere');
    for (const status of [201, 404, 418, 500, 503]) expect((await c.request('GET', `/svc/status/${status}`, { token: user.access_token })).status).toBe(status);
  });

  it("keeps the upstream's own security headers and adds edge-auth's where it set none", async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    const res = await c.request('GET', '/svc/csp', { token: user.access_token });
    expect(res.headers.get('Content-Security-Policy')).toBe("default-src 'self'");
    expect(res.headers.get('X-Content-Type-Options')).toBe('nosniff');
    expect(res.headers.get('X-Request-Id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('streams the response: the first event arrives before the stream ends', async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    const res = await c.request('GET', '/svc/stream', { token: user.access_token });
    expect(res.headers.get('Content-Type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    const started = Date.now();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toBe('data: one\n\n');
    expect(Date.now() - started).toBeLessThan(800); // the second event is 1 s later
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    expect(rest).toBe('data: two\n\n');
  });

  it('proxies a WebSocket upgrade on an authenticated route; refuses a cookie one from a foreign origin', async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    const res = await c.request('GET', '/svc/ws', { token: user.access_token, headers: { Upgrade: 'websocket' } });
    expect(res.status).toBe(101);
    const socket = res.webSocket!;
    socket.accept();
    const reply = new Promise<string>((resolve) => socket.addEventListener('message', (e) => resolve(String(e.data))));
    socket.send('hello');
    expect(await reply).toBe('echo:hello');
    socket.close();

    const s = await cookieSession(c);
    const foreign = await c.request('GET', '/svc/ws', { headers: { Upgrade: 'websocket', Cookie: s.cookie, Origin: 'https://evil.example' } });
    expect(foreign.status).toBe(403);
    expect((await c.request('GET', '/svc/ws', { headers: { Upgrade: 'websocket' } })).status).toBe(401);
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
    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === 'gateway.request');
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ level: 'info', route: '/svc/*', method: 'POST', status: 200, userId: user.id, subjectType: 'user', bytesIn: 12, requestId: res.headers.get('X-Request-Id') });
    expect(events[0]!.bytesOut).toBeGreaterThan(0);
    expect(typeof events[0]!.durationMs).toBe('number');
    expect(events[1]).toMatchObject({ route: '/svc/admin/*', status: 403, error: 'insufficient_scope', requestId: refused.headers.get('X-Request-Id') });
    expect(lines.join('\n')).not.toContain(user.access_token);
    expect(lines.join('\n')).not.toContain(user.username);
  });

  it("edge-auth's own routes and unknown paths are untouched by the table", async () => {
    const c = gatewayClient();
    expect((await c.request('GET', '/health')).status).toBe(200);
    const res = await c.request('GET', '/nothing-here');
    expect(res.status).toBe(404);
    expect((await errorOf(res)).error).toBe('not_found');
  });
});
