// Security headers on every class of response the Worker produces, and on the static
// assets (public/_headers, applied by Workers Static Assets).
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { assetHeaders, headerRules } from './asset-headers';
import { users } from '../src/db/schema';
import { Client, randomTestIp, testEnv } from './helpers';

const COMMON: Record<string, RegExp> = {
  'x-content-type-options': /^nosniff$/,
  'referrer-policy': /^no-referrer$/,
  'x-frame-options': /^DENY$/,
  'strict-transport-security': /^max-age=31536000; includeSubDomains$/,
  // The API serves JSON only: nothing may load, frame or be framed.
  'content-security-policy': /^default-src 'none'; frame-ancestors 'none'; base-uri 'none'$/,
};

function expectSecurityHeaders(res: Response, label: string, options: { noStore: boolean }): void {
  for (const [name, pattern] of Object.entries(COMMON)) expect(res.headers.get(name) ?? '(absent)', `${label}: ${name}`).toMatch(pattern);
  expect(res.headers.get('x-powered-by'), label).toBeNull();
  if (options.noStore) expect(res.headers.get('cache-control'), `${label}: cache-control`).toBe('no-store');
}

describe('security headers on every route class', () => {
  it('success, client-error and server-error responses all carry them; token and user data are no-store', async () => {
    const c = new Client(testEnv());
    const t = await c.signedUp();
    const promoted = await c.register();
    await drizzle(c.env.DB).update(users).set({ roles: '["admin"]' }).where(eq(users.id, promoted.id)).run();
    const admin = await c.login(promoted.username, promoted.password);
    const cookieLogin = await c.request('POST', '/auth/login', { json: { username: t.username, password: t.password, mode: 'cookie' }, headers: { Origin: 'http://localhost' } });
    expect(cookieLogin.status).toBe(200);

    const cases: [string, Response, boolean][] = [
      ['health', await c.request('GET', '/health'), false],
      ['jwks', await c.request('GET', '/.well-known/jwks.json'), false],
      ['discovery', await c.request('GET', '/.well-known/oauth-authorization-server'), false],
      ['register 201', await c.request('POST', '/auth/register', { json: { username: `hdr${t.username}`, password: 'correct horse battery' } }), true],
      ['login 200 (bearer)', await c.request('POST', '/auth/login', { json: { username: t.username, password: t.password } }), true],
      ['login 200 (cookie)', cookieLogin, true],
      ['login 401', await c.request('POST', '/auth/login', { json: { username: t.username, password: 'wrong password' } }), true],
      ['refresh 200', await c.request('POST', '/auth/refresh', { json: { refresh_token: t.refresh_token } }), true],
      ['refresh 401', await c.request('POST', '/auth/refresh', { json: { refresh_token: 'x' } }), true],
      ['me 200', await c.request('GET', '/auth/me', { token: t.access_token }), true],
      ['sessions 200', await c.request('GET', '/auth/sessions', { token: t.access_token }), true],
      ['api 200', await c.request('GET', '/api/private', { token: t.access_token }), true],
      ['api 401', await c.request('GET', '/api/private'), true],
      ['api 403', await c.request('GET', '/api/admin', { token: t.access_token }), true],
      ['admin 403', await c.request('GET', '/admin/keys', { token: t.access_token }), true],
      ['admin 200', await c.request('GET', '/admin/keys', { token: admin.access_token }), true],
      ['admin 401', await c.request('POST', '/admin/keys/rotate'), true],
      ['404', await c.request('GET', '/nope'), true],
      ['413', await c.request('POST', '/auth/login', { body: 'x'.repeat(20_000), headers: { 'Content-Type': 'application/json' } }), true],
      ['415', await c.request('POST', '/auth/login', { body: 'a=b', headers: { 'Content-Type': 'text/plain' } }), true],
      ['CORS preflight', await c.request('OPTIONS', '/auth/login', { headers: { Origin: 'http://localhost:8787', 'Access-Control-Request-Method': 'POST' } }), true],
      ['logout 204', await c.request('POST', '/auth/logout', { token: t.access_token }), true],
    ];
    const ip = randomTestIp();
    let limited: Response | undefined;
    for (let i = 0; i < 100 && !limited; i++) {
      const res = await c.request('POST', '/auth/register', { json: {}, headers: { 'CF-Connecting-IP': ip } });
      if (res.status === 429) limited = res;
    }
    cases.push(['429', limited!, true]);
    cases.push(['500 misconfigured', await new Client(testEnv({ JWT_ALG: 'none' })).request('GET', '/health'), true]);

    for (const [label, res, noStore] of cases) {
      expect(res, label).toBeDefined();
      expectSecurityHeaders(res, `${label} (${res.status})`, { noStore });
    }
    expect(cases.map(([, res]) => res.status)).toEqual([200, 200, 200, 201, 200, 200, 401, 200, 401, 200, 200, 200, 401, 403, 403, 200, 401, 404, 413, 415, 204, 204, 429, 500]);
  });
});

describe('static assets (public/_headers)', () => {
  // Workers Static Assets serve public/ without running the Worker, so the SPA's headers come
  // from this file; it must cover every path (the SPA fallback included).
  const rules = headerRules('/*');

  it('applies to every path', () => {
    expect(assetHeaders).toMatch(/^\/\*$/m);
  });

  it('serves the OpenAPI document to any origin, without credentials, under the same CSP', async () => {
    const openapi = headerRules('/openapi.json');
    expect(Object.fromEntries(openapi)).toEqual({ 'access-control-allow-origin': '*', 'cache-control': 'public, max-age=300' });
    const res = await (env as unknown as { ASSETS: Fetcher }).ASSETS.fetch('http://localhost/openapi.json');
    expect(res.headers.get('Access-Control-Allow-Origin')).toBe('*');
    expect(res.headers.get('Access-Control-Allow-Credentials')).toBeNull();
    expect(res.headers.get('Content-Security-Policy')).toBe(rules.get('content-security-policy'));
    expect(((await res.json()) as { openapi: string }).openapi).toBe('3.1.0');
  });

  it('the local asset server serves every asset and the SPA fallback with them', async () => {
    const assets = (env as unknown as { ASSETS: Fetcher }).ASSETS;
    for (const path of ['/', '/index.html', '/js/app.js', '/css/app.css', '/favicon.svg', '/some/client/route', '/docs/', '/docs/docs.js', '/openapi.json']) {
      const res = await assets.fetch(`http://localhost${path}`);
      await res.arrayBuffer();
      expect(res.status, path).toBe(200);
      for (const [name, value] of rules) expect(res.headers.get(name), `${path}: ${name}`).toBe(value);
    }
  });

  it('sets a strict CSP and the framing, sniffing and referrer defences', () => {
    const csp = Object.fromEntries(rules.get('content-security-policy')!.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k!, v.join(' ')]));
    expect(csp).toMatchObject({
      'default-src': "'self'",
      'script-src': "'self'",
      'style-src': "'self'",
      'connect-src': "'self'",
      'img-src': "'self' data:",
      'frame-ancestors': "'none'",
      'base-uri': "'none'",
      'form-action': "'self'",
    });
    for (const directive of Object.values(csp)) expect(directive).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect(rules.get('x-content-type-options')).toBe('nosniff');
    expect(rules.get('referrer-policy')).toBe('no-referrer');
    expect(rules.get('x-frame-options')).toBe('DENY');
  });

  it('carries the same HSTS header as the API (audit: the SPA had none)', async () => {
    const api = await new Client(testEnv()).request('GET', '/health');
    expect(rules.get('strict-transport-security')).toBe(api.headers.get('Strict-Transport-Security'));
    expect(rules.get('strict-transport-security')).toMatch(/^max-age=\d{8,}; includeSubDomains$/);
  });
});
