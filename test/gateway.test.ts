// Issue 13: the gateway in workerd, what crosses it. The upstream is a second Worker behind the
// UPSTREAM service binding (test/gateway-upstream.js) that answers with what it received and
// records markers, so a refused request can be shown never to have arrived. Who is let through,
// failures and the log: test/gateway-auth.test.ts.
import { decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { errorOf, T0 } from './helpers';
import { cookieSession, echo, gatewayClient, recorded, userWith, verifyAssertion } from './gateway-helpers';

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

  it('never outlives the access token, yet a token accepted within the leeway gets a usable assertion', async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    c.clock.advance(user.expires_in - 20); // 20 s left on the access token
    const late = (await echo(await c.request('GET', '/svc/x', { token: user.access_token }))).headers['x-edge-auth-assertion']!;
    const { payload } = await verifyAssertion(c, late, 'service:UPSTREAM');
    expect(payload.exp).toBe(T0 + user.expires_in);
    c.clock.advance(25); // expired 5 s ago, inside CLOCK_LEEWAY: edge-auth still accepts it
    const after = (await echo(await c.request('GET', '/svc/x', { token: user.access_token }))).headers['x-edge-auth-assertion']!;
    const { payload: p2 } = await verifyAssertion(c, after, 'service:UPSTREAM');
    expect(p2.exp).toBe(c.clock.seconds + 5);
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
        // Other forwarding and identity headers an upstream framework may trust, and overrides of
        // the method or path the route checked; and the same names with "_" for "-".
        'X-Forwarded-User': 'admin',
        'X-Forwarded-Email': 'admin@example.com',
        'X-Forwarded-Prefix': '/evil',
        'X-Forwarded-Port': '1',
        'X-Auth-Request-User': 'admin',
        'Remote-User': 'admin',
        'X-Remote-User': 'admin',
        'Cf-Access-Authenticated-User-Email': 'admin@example.com',
        'Cf-Access-Jwt-Assertion': 'forged',
        'True-Client-IP': '6.6.6.6',
        'X-Original-URL': '/admin',
        X_Edge_Auth_User_Id: 'someone-else',
        X_Edge_Auth_Roles: 'admin',
        X_Forwarded_For: '6.6.6.6',
        X_App_Header: 'kept too',
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
    for (const name of [
      'x-forwarded-user', 'x-forwarded-email', 'x-forwarded-prefix', 'x-forwarded-port', 'x-auth-request-user', 'remote-user', 'x-remote-user',
      'cf-access-authenticated-user-email', 'cf-access-jwt-assertion', 'true-client-ip', 'x-original-url',
      'x_edge_auth_user_id', 'x_edge_auth_roles', 'x_forwarded_for',
    ]) expect(h[name], name).toBeUndefined();
    expect(h.x_app_header).toBe('kept too');
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

  it('refuses (400) what an upstream could read as another route or method: //, ..;, method overrides', async () => {
    // /svc/admin/* needs admin or ops; this user has neither. nginx folds "//" and Tomcat reads
    // "..;" as "..", so either could serve /admin/... for a request that matched /svc/*.
    const c = gatewayClient();
    const user = await userWith(c, []);
    const cases: [string, Record<string, string>][] = [
      ['/svc//admin/x?marker=amb-slashes', {}],
      ['/svc/x/..;/admin/x?marker=amb-dotparam', {}],
      ['/svc/.;/admin/x?marker=amb-dotparam2', {}],
      ['/svc/notes?marker=amb-override', { 'X-HTTP-Method-Override': 'DELETE' }],
      ['/svc/notes?marker=amb-override2', { X_HTTP_Method_Override: 'DELETE' }],
      ['/svc/notes?marker=amb-override3', { 'X-Method-Override': 'PATCH' }],
    ];
    for (const [path, headers] of cases) {
      const res = await c.request('GET', path, { token: user.access_token, headers });
      expect(res.status, path).toBe(400);
      expect((await errorOf(res)).error, path).toBe('invalid_request');
    }
    const seen = await recorded();
    for (const marker of ['amb-slashes', 'amb-dotparam', 'amb-dotparam2', 'amb-override', 'amb-override2', 'amb-override3']) expect(seen, marker).not.toContain(marker);
    // A trailing slash, a dot inside a name and an ordinary escape still pass.
    for (const path of ['/svc/a/', '/svc/a.b/c', '/svc/.well/x', '/svc/a%20b']) expect((await c.request('GET', path, { token: user.access_token })).status, path).toBe(200);
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

describe('what the client receives', () => {
  it("Set-Cookie for edge-auth's cookies is dropped, the application's kept; hop-by-hop removed", async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    const res = await c.request('GET', '/svc/set-cookie', { token: user.access_token });
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie()).toEqual(['app_theme=dark; Path=/; Secure', 'app_session=abc; Path=/; Secure; HttpOnly']);
    expect(res.headers.get('Keep-Alive')).toBeNull();
    expect(res.headers.get('Clear-Site-Data'), 'the upstream cannot clear the site (and edge-auth cookies)').toBeNull();
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

  it("adds only HSTS and nosniff where the upstream set none: the upstream keeps its own content policy", async () => {
    const c = gatewayClient();
    const user = await userWith(c, []);
    const res = await c.request('GET', '/svc/csp', { token: user.access_token });
    expect(res.headers.get('Content-Security-Policy')).toBe("default-src 'self'");
    expect(res.headers.get('X-Frame-Options')).toBe('SAMEORIGIN'); // kept, not joined with edge-auth's DENY
    expect(res.headers.get('X-Content-Type-Options')).toBe('nosniff');
    expect(res.headers.get('Strict-Transport-Security')).toBe('max-age=31536000; includeSubDomains');
    // The request id is always edge-auth's (the one in its log line), never the upstream's.
    expect(res.headers.get('X-Request-Id')).toMatch(/^[0-9a-f-]{36}$/);

    // A page without a policy of its own is not given edge-auth's JSON-only one, which would block
    // its scripts (CSP default-src 'none'), frames (DENY) and popups (COOP); its own HSTS wins.
    const page = await c.request('GET', '/svc/page', { token: user.access_token });
    expect(await page.text()).toContain('<script');
    for (const name of ['Content-Security-Policy', 'X-Frame-Options', 'Cross-Origin-Opener-Policy', 'Referrer-Policy', 'X-XSS-Protection']) {
      expect(page.headers.get(name), name).toBeNull();
    }
    expect(page.headers.get('Strict-Transport-Security')).toBe('max-age=60');
    expect(page.headers.get('X-Content-Type-Options')).toBe('nosniff');

    // edge-auth's own answers on a gateway path (a refusal) carry its full set.
    const refused = await c.request('GET', '/svc/page');
    expect(refused.status).toBe(401);
    expect(refused.headers.get('Content-Security-Policy')).toBe("default-src 'none'; frame-ancestors 'none'; base-uri 'none'");
    expect(refused.headers.get('X-Frame-Options')).toBe('DENY');
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

  it("a stream outlives the route's timeout: it bounds the wait for the headers, not the body", async () => {
    // /svc/quick has timeout_ms 500; the stream's second event comes 1 s after its headers.
    const c = gatewayClient();
    const user = await userWith(c, []);
    const res = await c.request('GET', '/svc/quick/stream', { token: user.access_token });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('data: one\n\ndata: two\n\n');
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
