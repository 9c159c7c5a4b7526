// Issue 13: the gateway's route table is configuration: parsed once, and a bad table refuses every
// request with 500 misconfigured naming the entry. edge-auth's own paths can never be shadowed.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, getConfig, type Env } from '../src/config';
import { AppError } from '../src/errors';
import { checkForwardedPath } from '../src/gateway/proxy';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_TIMEOUT_MS, getRouteTable, matchRoute, parseRouteTable } from '../src/gateway/route-table';
import { Client, errorOf, testEnv } from './helpers';

const OK = { path: '/app/*', upstream: 'service:UPSTREAM' };

function parse(routes: unknown, overrides: Parameters<typeof testEnv>[0] = {}) {
  const env = testEnv({ ...overrides, GATEWAY_ROUTES: routes });
  return parseRouteTable(env, getConfig(testEnv(overrides)));
}

/** The ConfigError's variable for this table (the entry and field it names). */
function refusal(routes: unknown, overrides: Parameters<typeof testEnv>[0] = {}): { variable: string; message: string } {
  try {
    parse(routes, overrides);
  } catch (err) {
    if (err instanceof ConfigError) return { variable: err.variable, message: err.message };
    throw err;
  }
  throw new Error('the table was accepted');
}

const PRODUCTION = {
  ENVIRONMENT: 'production',
  JWT_ISSUER: 'https://auth.example.com',
  JWT_AUDIENCE: 'edge-auth',
  ALLOWED_ORIGINS: '',
  GATEWAY_ROUTES: [],
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe('gateway route table', () => {
  it('parses a route with its defaults: every method, auth required, 100 MiB, 30 s', () => {
    const [route] = parse([OK]);
    expect(route).toMatchObject({ pattern: '/app/*', prefix: '/app', wildcard: true, auth: 'required', roles: [], subjects: ['user', 'api_key', 'client'], fresh: false, stripPrefix: '' });
    expect(parse([{ ...OK, subjects: ['user', 'user', 'api_key'] }])[0]!.subjects).toEqual(['user', 'api_key']);
    expect([...route!.methods].sort()).toEqual(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT']);
    expect(route!.upstream).toEqual({ kind: 'service', binding: 'UPSTREAM', id: 'service:UPSTREAM' });
    expect(route!.maxBodyBytes).toBe(DEFAULT_MAX_BODY_BYTES);
    expect(route!.timeoutMs).toBe(DEFAULT_TIMEOUT_MS);
  });

  it('accepts the table as JSON text too, and an unset or empty variable as no routes', () => {
    expect(parse(JSON.stringify([OK]))).toHaveLength(1);
    expect(parse(undefined)).toEqual([]);
    expect(parse('')).toEqual([]);
  });

  it('normalises URL upstreams to origin + base path (the assertion audience)', () => {
    const [a, b] = parse([
      { path: '/a/*', upstream: 'https://api.example.com/v1/' },
      { path: '/b/*', upstream: 'https://API.example.com' },
    ], PRODUCTION);
    expect(a!.upstream).toEqual({ kind: 'url', base: 'https://api.example.com/v1', id: 'https://api.example.com/v1' });
    expect(b!.upstream).toEqual({ kind: 'url', base: 'https://api.example.com', id: 'https://api.example.com' });
  });

  it('the development table in wrangler.toml is valid', () => {
    const env = testEnv();
    const table = getRouteTable(env, getConfig(env));
    expect(table.map((r) => r.pattern)).toEqual(['/app-api/health', '/app-api/admin/*', '/app-api/*']);
  });

  it.each([
    ['/auth/*'], ['/auth'], ['/auth/login'], ['/auth/api-keys/*'], ['/admin/*'], ['/oauth/*'], ['/oauth/token'], ['/.well-known/*'], ['/.well-known/jwks.json'], ['/health'],
    ['/api/*'], ['/api/private'], ['/css/*'], ['/js/app.js'], ['/favicon.svg'], ['/index.html'],
  ])('refuses %s: it would shadow an own path or asset', (path) => {
    const { variable, message } = refusal([OK, { path, upstream: 'service:UPSTREAM' }]);
    expect(variable).toBe('GATEWAY_ROUTES[1].path');
    expect(message).toMatch(/would shadow edge-auth's own path/);
  });

  it.each([['/*'], ['/'], ['app/*'], ['/a/../auth/*'], ['/a/%2e%2e/*'], ['/a/*/b'], ['/a//b'], [42]])('refuses the pattern %s', (path) => {
    expect(refusal([{ path, upstream: 'service:UPSTREAM' }]).variable).toBe('GATEWAY_ROUTES[0].path');
  });

  it('allows paths that only share letters with own paths (/authors, /apis)', () => {
    expect(parse([{ path: '/authors/*', upstream: 'service:UPSTREAM' }, { path: '/apis', upstream: 'service:UPSTREAM' }])).toHaveLength(2);
  });

  it.each([
    ['ftp://files.example.com', {}, /https:\/\/ URL/],
    ['not a url', {}, /not a URL/],
    ['https://user:pw@api.example.com', {}, /credentials/],
    ['https://api.example.com/?x=1', {}, /query/],
    ['http://api.example.com', PRODUCTION, /only when ENVIRONMENT=development/],
    ['https://127.0.0.1', PRODUCTION, /loopback/],
    ['service:NOPE', {}, /no service binding NOPE/],
    ['service:bad-name', {}, /binding name/],
    ['service:DB', {}, /no service binding DB/], // a binding, but not one with fetch()
    ['', {}, /https:\/\//],
  ] as const)('refuses the upstream %s', (upstream, overrides, reason) => {
    const { variable, message } = refusal([{ path: '/app/*', upstream }], overrides);
    expect(variable).toBe('GATEWAY_ROUTES[0].upstream');
    expect(message).toMatch(reason);
  });

  it('allows http:// and loopback upstreams in development', () => {
    expect(parse([{ path: '/app/*', upstream: 'http://127.0.0.1:8789' }])[0]!.upstream.id).toBe('http://127.0.0.1:8789');
  });

  it.each([
    [{ methods: [] }, 'methods'],
    [{ methods: ['GET', 'TRACE'] }, 'methods'],
    [{ auth: 'maybe' }, 'auth'],
    [{ roles: ['Admin'] }, 'roles'],
    [{ roles: ['admin'], auth: 'optional' }, 'roles'],
    [{ subjects: [] }, 'subjects'],
    [{ subjects: 'user' }, 'subjects'],
    [{ subjects: ['user', 'robot'] }, 'subjects'],
    [{ subjects: ['user'], auth: 'none' }, 'subjects'],
    [{ fresh: 'yes' }, 'fresh'],
    [{ fresh: true, auth: 'none' }, 'fresh'],
    [{ strip_prefix: '/other' }, 'strip_prefix'],
    [{ strip_prefix: '/ap' }, 'strip_prefix'],
    [{ max_body_bytes: -1 }, 'max_body_bytes'],
    [{ max_body_bytes: 600 * 1024 * 1024 }, 'max_body_bytes'],
    [{ timeout_ms: 0 }, 'timeout_ms'],
    [{ timeout_ms: 1.5 }, 'timeout_ms'],
    [{ upstrem: 'service:UPSTREAM' }, 'upstrem'],
  ])('refuses %j, naming the field', (extra, field) => {
    expect(refusal([OK, { ...OK, ...extra }]).variable).toBe(`GATEWAY_ROUTES[1].${field}`);
  });

  it('refuses tables that are not a list of objects', () => {
    expect(refusal('{not json').variable).toBe('GATEWAY_ROUTES');
    expect(refusal({ path: '/app/*' }).variable).toBe('GATEWAY_ROUTES');
    expect(refusal([null]).variable).toBe('GATEWAY_ROUTES[0]');
    expect(refusal(Array.from({ length: 65 }, (_, i) => ({ path: `/r${i}`, upstream: 'service:UPSTREAM' }))).variable).toBe('GATEWAY_ROUTES');
  });

  it('matches the first route covering path and method, at segment boundaries', () => {
    const table = parse([
      { path: '/app/admin/*', methods: ['DELETE'], upstream: 'service:UPSTREAM' },
      { path: '/app/*', methods: ['GET', 'DELETE'], upstream: 'service:UPSTREAM' },
      { path: '/exact', methods: ['GET'], upstream: 'service:UPSTREAM' },
    ]);
    const hit = (path: string, method: string) => {
      const m = matchRoute(table, path, method);
      return m && ('route' in m ? m.route.pattern : m.methodNotAllowed.sort().join(','));
    };
    expect(hit('/app/admin/x', 'DELETE')).toBe('/app/admin/*');
    expect(hit('/app/admin/x', 'GET')).toBe('/app/*'); // the admin route does not take GET: the next one does
    expect(hit('/app', 'GET')).toBe('/app/*');
    expect(hit('/app/admin/x', 'POST')).toBe('DELETE,GET'); // covered, method allowed by none: 405
    expect(hit('/apps', 'GET')).toBeUndefined();
    expect(hit('/exact', 'GET')).toBe('/exact');
    expect(hit('/exact/more', 'GET')).toBeUndefined();
  });

  it('refuses a path whose normalised form (what is forwarded) belongs to another route, or a malformed one', () => {
    // workerd hands the Worker a normalised URL (measured under wrangler dev), so the router's path
    // and the forwarded one agree; this is the check for a runtime or zone where they would not.
    const table = parse([
      { path: '/app/admin/*', roles: ['admin'], upstream: 'service:UPSTREAM' },
      { path: '/app/*', upstream: 'service:UPSTREAM' },
    ]);
    const matched = (path: string) => {
      const m = matchRoute(table, path, 'GET');
      if (!m || !('route' in m)) throw new Error(`no route for ${path}`);
      return m.route;
    };
    const check = (routerPath: string, forwarded: string) => () => checkForwardedPath(table, matched(routerPath), routerPath, forwarded, 'GET');
    // The router's path keeps dot segments as sent; the forwarded one has them resolved.
    expect(matched('/app/x/../admin/users').pattern).toBe('/app/*');
    expect(check('/app/x/../admin/users', '/app/admin/users')).toThrow(/ambiguous/);
    try {
      check('/app/x/../admin/users', '/app/admin/users')();
    } catch (err) {
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).status).toBe(400);
    }
    expect(check('/app/x/../admin/users', '/app/%61dmin/users')).toThrow(/ambiguous/); // escapes decoded before matching
    expect(check('/app/x/../admin/users/%ZZ', '/app/%61dmin/users/%ZZ')).toThrow(/ambiguous/); // malformed: refused, not guessed
    expect(check('/app/x/../elsewhere', '/elsewhere')).toThrow(/ambiguous/);
    // Same route once normalised: forwarded.
    expect(check('/app/notes/a b', '/app/notes/a%20b')).not.toThrow();
    expect(check('/app/100%25', '/app/100%25')).not.toThrow();
    expect(check('/app/admin/users', '/app/admin/users')).not.toThrow();
    // Folded by servers, kept by the URL parser: refused whatever the forwarded form.
    expect(check('/app//admin/users', '/app//admin/users')).toThrow(/ambiguous/);
    expect(check('/app/x/..;/admin/users', '/app/x/..;/admin/users')).toThrow(/ambiguous/);
  });
});

describe('a bad route table through the app', () => {
  it('answers every request, /health included, with 500 misconfigured naming the entry, and logs it', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const c = new Client(testEnv({ GATEWAY_ROUTES: JSON.stringify([OK, { path: '/auth/*', upstream: 'service:UPSTREAM' }]) }));
    for (const path of ['/health', '/app/x', '/auth/me']) {
      const res = await c.request('GET', path);
      expect(res.status, path).toBe(500);
      const body = await errorOf(res);
      expect(body.error).toBe('misconfigured');
      expect(body.message).toMatch(/^The service is misconfigured: GATEWAY_ROUTES\[1\]\.path: /);
    }
    const line = JSON.parse(String(errors.mock.calls.at(-1)![0])) as Record<string, unknown>;
    expect(line).toMatchObject({ event: 'config.misconfigured', setting: 'GATEWAY_ROUTES[1].path' });
  });

  it('a production deployment with a development (http://) table is refused, naming it', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const env: Env = testEnv({ ...PRODUCTION, KEY_ENCRYPTION_KEY: 'prod-like-kek-Vq3x9Zr2LmN8pT4sW7yB1cD6fG0hJ5kQ', JWT_SECRET: undefined, GATEWAY_ROUTES: [{ path: '/app/*', upstream: 'http://10.0.0.1' }] });
    const res = await new Client(env).request('GET', '/health');
    expect(res.status).toBe(500);
    expect((await errorOf(res)).message).toContain('GATEWAY_ROUTES[0].upstream: http:// is allowed only when ENVIRONMENT=development');
  });
});
