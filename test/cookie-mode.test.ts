// Cookie mode, CSRF defence, CORS. The browser end-to-end test is in e2e/.
import { describe, expect, it } from 'vitest';
import { Browser, ORIGIN, parseSetCookies } from './browser';
import { Client, errorOf, testEnv, uniqueName } from './helpers';

describe('cookie mode', () => {
  it('login sets the three cookies with the right attributes and no tokens in the body', async () => {
    const b = new Browser(new Client(testEnv()));
    const { res } = await b.signIn();
    expect(res.status).toBe(200);
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).not.toHaveProperty('access_token');
    expect(body).not.toHaveProperty('refresh_token');
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 900, refresh_expires_in: 1209600, user: { roles: [] } });

    const cookies = parseSetCookies(res);
    const access = cookies.get('__Host-edge_access')!;
    expect(access.attributes).toMatchObject({ httponly: true, secure: true, samesite: 'Lax', path: '/', 'max-age': '900' });
    expect(access.attributes).not.toHaveProperty('domain');
    expect(access.value.split('.')).toHaveLength(3);
    const refresh = cookies.get('__Secure-edge_refresh')!;
    expect(refresh.attributes).toMatchObject({ httponly: true, secure: true, samesite: 'Strict', path: '/auth/refresh', 'max-age': '1209600' });
    const csrf = cookies.get('__Host-edge_csrf')!;
    expect(csrf.attributes).toMatchObject({ secure: true, samesite: 'Strict', path: '/' });
    expect(csrf.attributes).not.toHaveProperty('httponly');
    expect(csrf.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('authenticates protected routes with the access cookie', async () => {
    const b = new Browser(new Client(testEnv()));
    const { username } = await b.signIn();
    const me = await b.request('GET', '/auth/me');
    expect(me.status).toBe(200);
    expect(((await me.json()) as { user: { username: string } }).user.username).toBe(username);
    expect((await b.request('GET', '/api/private')).status).toBe(200);
  });

  it('an expired (dropped) access cookie with a live session answers invalid_token, so the SPA refreshes', async () => {
    const b = new Browser(new Client(testEnv()));
    await b.signIn();
    b.jar.delete('__Host-edge_access'); // what the browser does at Max-Age
    const res = await b.request('GET', '/api/private');
    expect(res.status).toBe(401);
    expect((await errorOf(res)).error).toBe('invalid_token');
    expect(res.headers.get('WWW-Authenticate')).toContain('error="invalid_token"');
    expect((await b.send('POST', '/auth/refresh')).status).toBe(200);
    expect((await b.request('GET', '/api/private')).status).toBe(200);
    b.jar.clear(); // no session cookies at all: plain 401 unauthorized
    expect((await errorOf(await b.request('GET', '/api/private'))).error).toBe('unauthorized');
  });

  it('bearer and cookie clients work side by side; the Authorization header wins over a cookie', async () => {
    const c = new Client(testEnv());
    const b = new Browser(c);
    await b.signIn();
    const bearer = await c.signedUp();
    const res = await b.request('GET', '/api/private', { headers: { Authorization: `Bearer ${bearer.access_token}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { user: { id: string } }).user.id).toBe(bearer.user.id);
    expect((await b.request('GET', '/api/private', { headers: { Authorization: 'Bearer garbage.garbage.garbage' } })).status).toBe(401);
  });

  it('refresh with the refresh cookie rotates the cookies', async () => {
    const b = new Browser(new Client(testEnv()));
    await b.signIn();
    const before = b.jar.get('__Secure-edge_refresh')!.value;
    const res = await b.send('POST', '/auth/refresh');
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).not.toHaveProperty('access_token');
    expect(body).not.toHaveProperty('refresh_token');
    expect(b.jar.get('__Secure-edge_refresh')!.value).not.toBe(before);
    expect((await b.request('GET', '/api/private')).status).toBe(200);
  });

  it('a failed refresh clears the cookies', async () => {
    const c = new Client(testEnv());
    const b = new Browser(c);
    await b.signIn();
    const parent = b.jar.get('__Secure-edge_refresh')!.value;
    const parentCsrf = b.csrf;
    await b.send('POST', '/auth/refresh');
    c.clock.advance(60);
    // replay the parent, with the CSRF token that belongs to it (stolen together)
    b.jar.set('__Secure-edge_refresh', { ...b.jar.get('__Secure-edge_refresh')!, value: parent });
    b.jar.set('__Host-edge_csrf', { ...b.jar.get('__Host-edge_csrf')!, value: parentCsrf });
    const res = await b.send('POST', '/auth/refresh');
    expect(res.status).toBe(401);
    expect((await errorOf(res)).error).toBe('invalid_grant');
    const cleared = parseSetCookies(res);
    for (const name of ['__Host-edge_access', '__Secure-edge_refresh', '__Host-edge_csrf']) {
      expect(cleared.get(name)?.attributes['max-age']).toBe('0');
    }
    expect(b.jar.size).toBe(0);
  });

  it('the CSRF token is bound to the refresh cookie: a planted refresh cookie cannot swap the session', async () => {
    const c = new Client(testEnv());
    const attacker = new Browser(c);
    await attacker.signIn();
    const victim = new Browser(c);
    const { username } = await victim.signIn();
    // A sibling subdomain plants the attacker's refresh cookie (Domain=parent) ahead of the victim's.
    const planted = attacker.jar.get('__Secure-edge_refresh')!;
    const header = `__Secure-edge_refresh=${planted.value}; ${victim.cookieHeader('/auth/refresh')}`;
    const res = await c.request('POST', '/auth/refresh', { headers: { Cookie: header, Origin: ORIGIN, 'X-CSRF-Token': victim.csrf } });
    expect(res.status).toBe(403);
    expect((await errorOf(res)).error).toBe('csrf_failed');
    expect(res.headers.getSetCookie()).toEqual([]); // nothing issued for the attacker's session
    // the victim's own refresh still works and stays in the victim's account
    const own = await victim.send('POST', '/auth/refresh');
    expect(own.status).toBe(200);
    expect(((await own.json()) as { user: { username: string } }).user.username).toBe(username);
  });

  it('logout and logout-all clear the cookies and end the session', async () => {
    for (const path of ['/auth/logout', '/auth/logout-all']) {
      const b = new Browser(new Client(testEnv()));
      await b.signIn();
      const access = b.jar.get('__Host-edge_access')!;
      const res = await b.send('POST', path);
      expect(res.status).toBe(204);
      expect(b.jar.size).toBe(0);
      b.jar.set(access.name, access); // a stolen copy of the cookie no longer works
      expect((await b.request('GET', '/api/private')).status).toBe(401);
    }
  });
});

describe('CSRF defence', () => {
  async function attempt(headers: Record<string, string>) {
    const b = new Browser(new Client(testEnv()));
    await b.signIn();
    const res = await b.request('POST', '/auth/logout-all', { headers });
    const stillIn = (await b.request('GET', '/api/private')).status;
    return { res, stillIn, csrf: b.csrf };
  }

  it('refuses a cookie-authenticated POST without Origin', async () => {
    const b = new Browser(new Client(testEnv()));
    await b.signIn();
    const res = await b.request('POST', '/auth/logout-all', { headers: { 'X-CSRF-Token': b.csrf } });
    expect(res.status).toBe(403);
    expect((await errorOf(res)).error).toBe('csrf_failed');
    expect((await b.request('GET', '/api/private')).status).toBe(200);
  });

  it('refuses a foreign Origin even with the right token', async () => {
    const b = new Browser(new Client(testEnv()));
    await b.signIn();
    for (const origin of ['https://evil.example', 'null', 'http://localhost.evil.example']) {
      const res = await b.request('POST', '/auth/logout-all', { headers: { Origin: origin, 'X-CSRF-Token': b.csrf } });
      expect(res.status).toBe(403);
    }
    const fetchSite = await b.request('POST', '/auth/logout-all', { headers: { 'Sec-Fetch-Site': 'cross-site', 'X-CSRF-Token': b.csrf } });
    expect(fetchSite.status).toBe(403);
    expect((await b.request('GET', '/api/private')).status).toBe(200);
  });

  it('refuses a missing or wrong X-CSRF-Token header', async () => {
    const missing = await attempt({ Origin: ORIGIN });
    expect(missing.res.status).toBe(403);
    expect(missing.stillIn).toBe(200);
    const wrong = await attempt({ Origin: ORIGIN, 'X-CSRF-Token': 'A'.repeat(43) });
    expect(wrong.res.status).toBe(403);
    expect(wrong.stillIn).toBe(200);
  });

  it('accepts the request when everything is right (Origin or Sec-Fetch-Site)', async () => {
    const b = new Browser(new Client(testEnv()));
    await b.signIn();
    const ok = await b.request('POST', '/auth/logout-all', { headers: { 'Sec-Fetch-Site': 'same-origin', 'X-CSRF-Token': b.csrf } });
    expect(ok.status).toBe(204);
  });

  it('protects refresh and other unsafe cookie requests too', async () => {
    const b = new Browser(new Client(testEnv()));
    await b.signIn();
    expect((await b.request('POST', '/auth/refresh', { headers: { Origin: 'https://evil.example', 'X-CSRF-Token': b.csrf } })).status).toBe(403);
    expect((await b.request('POST', '/auth/refresh', { headers: { Origin: ORIGIN } })).status).toBe(403);
    const sessions = (await (await b.request('GET', '/auth/sessions')).json()) as { sessions: { id: string }[] };
    expect((await b.request('DELETE', `/auth/sessions/${sessions.sessions[0]!.id}`, { headers: { Origin: ORIGIN } })).status).toBe(403);
  });

  it('allows origins listed in ALLOWED_ORIGINS', async () => {
    const b = new Browser(new Client(testEnv({ ALLOWED_ORIGINS: 'https://app.example.com' })));
    const { username, password } = await b.c.register(uniqueName('allowed'));
    const login = await b.request('POST', '/auth/login', { json: { username, password, mode: 'cookie' }, headers: { Origin: 'https://app.example.com' } });
    expect(login.status).toBe(200);
    const res = await b.request('POST', '/auth/logout', { headers: { Origin: 'https://app.example.com', 'X-CSRF-Token': b.csrf } });
    expect(res.status).toBe(204);
  });

  it('refuses a cookie-mode login from a foreign origin (login CSRF)', async () => {
    const c = new Client(testEnv());
    const { username, password } = await c.register(uniqueName('logincsrf'));
    const res = await c.request('POST', '/auth/login', { json: { username, password, mode: 'cookie' }, headers: { Origin: 'https://evil.example' } });
    expect(res.status).toBe(403);
    expect(res.headers.getSetCookie()).toEqual([]);
  });

  it('bearer requests need neither Origin nor CSRF token', async () => {
    const c = new Client(testEnv());
    const t = await c.signedUp();
    const res = await c.request('POST', '/auth/logout-all', { token: t.access_token, headers: { Origin: 'https://elsewhere.example' } });
    expect(res.status).toBe(204);
  });
});

describe('CORS', () => {
  it('answers preflights for listed origins only and never reflects an arbitrary origin', async () => {
    const c = new Client(testEnv({ ALLOWED_ORIGINS: 'https://app.example.com' }));
    const ok = await c.request('OPTIONS', '/auth/me', {
      headers: { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'GET' },
    });
    expect(ok.headers.get('Access-Control-Allow-Origin')).toBe('https://app.example.com');
    expect(ok.headers.get('Access-Control-Allow-Credentials')).toBe('true');
    const evil = await c.request('OPTIONS', '/auth/me', {
      headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'GET' },
    });
    expect(evil.headers.get('Access-Control-Allow-Origin')).toBeNull();
    const simple = await c.request('GET', '/health', { headers: { Origin: 'https://evil.example' } });
    expect(simple.headers.get('Access-Control-Allow-Origin')).toBeNull();
  });

  it('serves the JWKS and discovery with open CORS and no credentials', async () => {
    const c = new Client(testEnv());
    const res = await c.request('GET', '/.well-known/jwks.json', { headers: { Origin: 'https://anyone.example' } });
    expect(res.headers.get('Access-Control-Allow-Origin')).toBe('*');
    expect(res.headers.get('Access-Control-Allow-Credentials')).toBeNull();
  });
});
