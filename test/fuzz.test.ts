// Property-based fuzzing (fast-check) of every endpoint with generated malformed requests.
// Every answer must be a 4xx JSON `{error, message}` with a known code whose status matches
// ERROR_STATUS (never a 5xx), and no rejected request may create or change a user or a session:
// D1 and KV are fingerprinted before and after every single case.
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_STATUS } from '../src/errors';
import { verifyToken } from '../src/rpc';
import { USERNAME_PATTERN } from '../src/lib/validation';
import { CapturedMail } from './email-helpers';
import { Client, testEnv, uniqueName, type TokenBody } from './helpers';

// Runs per property: several thousand cases in all (the file's duration is printed by vitest).
// Raise FUZZ_SCALE for a longer soak; every property's count is multiplied by it.
const FUZZ_SCALE = 1;
const runs = (n: number) => Math.max(1, Math.round(n * FUZZ_SCALE));

interface FuzzRequest {
  method: string;
  path: string;
  headers: [string, string][];
  body?: string;
}

let client: Client;
let victim: TokenBody & { username: string; password: string; id: string };
let boss: TokenBody; // an administrator, for the admin API's own input checks
let cookieValues: { access: string; refresh: string; csrf: string };
const counts = new Map<string, number>();
const started = Date.now();

// ---------------------------------------------------------------------------------------------
// Sending, checking, fingerprinting

async function send(req: FuzzRequest): Promise<Response> {
  const headers = new Headers();
  for (const [name, value] of req.headers) headers.append(name, value);
  const ctx = createExecutionContext();
  const res = await client.app.fetch(
    new Request(`http://localhost${req.path}`, { method: req.method, headers, body: req.body }),
    client.env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

const describeReq = (req: FuzzRequest) =>
  `${req.method} ${req.path.slice(0, 80)} headers=${JSON.stringify(req.headers.map(([n, v]) => [n, v.slice(0, 60)]))} body=${JSON.stringify(req.body?.slice(0, 120))}`;

/** A 4xx JSON error with a known code; returns the code. */
async function expectRejected(res: Response, req: FuzzRequest, allowed?: readonly number[]): Promise<string> {
  const label = describeReq(req);
  const text = await res.text();
  expect(res.status, `${label} -> ${res.status} ${text.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
  expect(res.status, `${label} -> ${res.status} ${text.slice(0, 200)}`).toBeLessThan(500);
  if (allowed) expect(allowed, `${label} -> ${res.status} ${text.slice(0, 200)}`).toContain(res.status);
  if (req.method === 'HEAD') return 'head';
  expect(res.headers.get('Content-Type'), label).toMatch(/^application\/json/);
  const body = JSON.parse(text) as { error: keyof typeof ERROR_STATUS; message: unknown };
  expect(Object.keys(body).sort(), label).toEqual(['error', 'message']);
  expect(typeof body.message, label).toBe('string');
  expect(ERROR_STATUS[body.error], `${label}: unknown code ${String(body.error)}`).toBe(res.status);
  return body.error;
}

const OAUTH_PATHS = new Set(['/oauth/token', '/oauth/introspect', '/oauth/revoke']);
const OAUTH_ERRORS = ['invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope'];

/** An RFC 6749 section 5.2 error from an /oauth endpoint (or the body limit's 413, which answers first). */
async function expectOAuthRejected(res: Response, req: FuzzRequest): Promise<void> {
  const text = await res.text();
  const label = `${describeReq(req)} -> ${res.status} ${text.slice(0, 200)}`;
  expect([400, 401, 413], label).toContain(res.status);
  const body = JSON.parse(text) as Record<string, unknown>;
  if (res.status === 413) return;
  expect(Object.keys(body).sort(), label).toEqual(['error', 'error_description']);
  expect(OAUTH_ERRORS, label).toContain(body.error);
  if (res.status === 401) expect(res.headers.get('WWW-Authenticate'), label).toMatch(/^Basic realm=/);
}

/**
 * Everything a rejected request must not change: every column of every user (the lockout
 * counters excepted: counting failed password attempts is what a rejected login is for) and of
 * every session, in one D1 query (cheap enough to run after every case).
 */
async function rows(): Promise<string> {
  const row = await client.env.DB.prepare(
    `SELECT
       (SELECT count(*) FROM users) || ':' || (SELECT count(*) FROM sessions) || ':' ||
       (SELECT group_concat(v, ',') FROM (SELECT id || '|' || username || '|' || username_key || '|' || coalesce(email, '') || '|' || password_hash || '|' ||
          roles || '|' || disabled || '|' || created_at || '|' || updated_at AS v FROM users ORDER BY id)) || ':' ||
       (SELECT group_concat(v, ',') FROM (SELECT id || '|' || user_id || '|' || generation || '|' || current_hash || '|' || coalesce(previous_hash, '') || '|' ||
          coalesce(rotated_at, '') || '|' || last_used_at || '|' || refresh_expires_at || '|' || expires_at || '|' || coalesce(revoked_at, '') AS v FROM sessions ORDER BY id)) AS f`,
  ).first<{ f: string }>();
  return row!.f;
}

/** The refresh-token records and revocation entries in KV (checked around each property). */
async function kvKeys(): Promise<string> {
  return (await client.env.KV.list()).keys.map((k) => k.name).sort().join(',');
}

/** One property: `numRuns` generated requests, each checked and each followed by a D1 fingerprint. */
async function fuzz(name: string, arb: fc.Arbitrary<FuzzRequest>, numRuns: number, check: (res: Response, req: FuzzRequest) => Promise<void>) {
  let n = 0;
  const baseline = await rows();
  const kvBefore = await kvKeys();
  expect(baseline).toMatch(/^\d+:\d+:/);
  await fc.assert(
    fc.asyncProperty(arb, async (req) => {
      n++;
      await check(await send(req), req);
      expect((await rows()) === baseline, `users or sessions changed by ${describeReq(req)}`).toBe(true);
    }),
    { numRuns },
  );
  expect(await kvKeys()).toBe(kvBefore);
  counts.set(name, (counts.get(name) ?? 0) + n);
}

// ---------------------------------------------------------------------------------------------
// Building blocks

const b64url = (text: string) => btoa(unescape(encodeURIComponent(text))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const B64_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Header values: printable ASCII (what HTTP carries), sometimes very long. */
const headerValue = fc.oneof(
  { weight: 8, arbitrary: fc.string({ maxLength: 120 }) },
  { weight: 1, arbitrary: fc.tuple(fc.string({ minLength: 1, maxLength: 6 }), fc.integer({ min: 200, max: 12_000 })).map(([s, n]) => s.repeat(n).slice(0, 60_000)) },
);

const ipHeader = fc.oneof(
  { weight: 6, arbitrary: fc.ipV4() },
  { weight: 3, arbitrary: fc.ipV6() },
  { weight: 1, arbitrary: headerValue },
);

const noise: fc.Arbitrary<[string, string][]> = fc.array(
  fc.tuple(fc.constantFrom('User-Agent', 'Accept', 'Accept-Encoding', 'Content-Encoding', 'Referer', 'X-Forwarded-For', 'Sec-Fetch-Site', 'Origin', 'X-Request-Id', 'X-Fuzz'), headerValue),
  { maxLength: 4 },
);

const jsonContentType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json;charset=latin1');
const nonJsonContentType = fc.oneof(
  fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'text/json', 'application/jsonx', 'application/json-patch+json', ' ', 'json'),
  fc.string({ minLength: 1, maxLength: 40 }).filter((t) => t.split(';')[0]!.trim().toLowerCase() !== 'application/json'),
);

const malformedJson = fc
  .oneof(fc.string({ maxLength: 200 }), fc.json().map((j) => j.slice(0, Math.max(1, j.length - 1))), fc.json().map((j) => `${j},`), fc.constantFrom('{', '{"a":', "{'a':1}", 'NaN', '{"a":1}}', '\u0000', '[1,]', '{"a":01}'))
  .filter((text) => {
    try {
      JSON.parse(text);
      return false;
    } catch {
      return true;
    }
  });

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** True when the value could pass the endpoint's schema: such bodies are kept out of the cheap properties. */
const plausible = (v: unknown, keys: string[]) => isObject(v) && Object.keys(v).every((k) => keys.includes(k)) && Object.values(v).every((x) => typeof x === 'string');

const validUsername = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{2,20}$/);
const invalidUsername = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ maxLength: 2 }),
  fc.string({ minLength: 65, maxLength: 300 }),
).filter((u) => !USERNAME_PATTERN.test(u.normalize('NFKC')));
const goodPassword = fc.string({ minLength: 8, maxLength: 40 });
const anyJson = fc.jsonValue({ maxDepth: 4 });
const nonString = anyJson.filter((v) => typeof v !== 'string');
const overlong = (min: number) => fc.integer({ min, max: min + 200 }).map((n) => 'é'.repeat(Math.ceil(n / 2)));

/** A valid-looking object broken in exactly one of several ways, each of which the schema refuses. */
function nearValid(template: fc.Arbitrary<Record<string, unknown>>, breakers: fc.Arbitrary<(o: Record<string, unknown>) => Record<string, unknown>>) {
  return fc.tuple(template, breakers).map(([o, breaker]) => breaker({ ...o }));
}
const set = (key: string, arb: fc.Arbitrary<unknown>) => arb.map((value) => (o: Record<string, unknown>) => ({ ...o, [key]: value }));
const drop = (key: string) => fc.constant((o: Record<string, unknown>) => {
  const { [key]: _, ...rest } = o;
  return rest;
});
// Never a field some endpoint accepts: adding one could make a body valid.
const FIELDS = ['username', 'password', 'email', 'mode', 'refresh_token', 'current_password', 'new_password', 'roles', 'disabled', 'token', 'new_email'];
const extraKey = fc
  .tuple(fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('__proto__', 'constructor', 'admin', 'roles', 'id')).filter((k) => !FIELDS.includes(k)), anyJson)
  .map(([k, v]) => (o: Record<string, unknown>) => {
    // defineProperty, so that even "__proto__" becomes an own, serialised key.
    const out = { ...o };
    Object.defineProperty(out, Object.hasOwn(o, k) ? `${k}_` : k, { value: v, enumerable: true, writable: true, configurable: true });
    return out;
  });

/** Bodies for one endpoint: wrong content type, broken JSON, wrong shapes, near-misses, too big, too deep. */
function badBodies(nearMisses: fc.Arbitrary<Record<string, unknown>>, excluded: (v: unknown) => boolean): fc.Arbitrary<{ contentType?: string; body?: string }> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.record({ contentType: nonJsonContentType, body: fc.string({ maxLength: 200 }) }) },
    { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 200 }).map((body) => ({ body })) }, // no content type at all
    { weight: 3, arbitrary: fc.record({ contentType: jsonContentType, body: malformedJson }) },
    { weight: 3, arbitrary: fc.record({ contentType: jsonContentType, body: anyJson.filter((v) => !excluded(v)).map((v) => JSON.stringify(v)) }) },
    { weight: 6, arbitrary: fc.record({ contentType: jsonContentType, body: nearMisses.map((v) => JSON.stringify(v)) }) },
    { weight: 1, arbitrary: fc.record({ contentType: jsonContentType, body: fc.integer({ min: 16_400, max: 40_000 }).map((n) => `{"username":"${'a'.repeat(n)}"}`) }) },
    { weight: 1, arbitrary: fc.record({ contentType: jsonContentType, body: fc.integer({ min: 9, max: 5000 }).map((n) => `{"username":${'['.repeat(n)}${']'.repeat(n)}}`) }) },
  );
}

function post(path: string, auth: fc.Arbitrary<[string, string][]>, bodies: fc.Arbitrary<{ contentType?: string; body?: string }>): fc.Arbitrary<FuzzRequest> {
  return fc.record({ auth, bodies, ip: ipHeader, noise }).map(({ auth: a, bodies: b, ip, noise: n }) => ({
    method: 'POST',
    path,
    headers: [...a, ...(b.contentType !== undefined ? [['Content-Type', b.contentType] as [string, string]] : []), ['CF-Connecting-IP', ip], ...n.filter(([h]) => h !== 'Origin' && h !== 'Sec-Fetch-Site')],
    body: b.body,
  }));
}

// ---------------------------------------------------------------------------------------------
// Tokens and cookies: mutated real ones, forged ones, garbage

/** A real token changed so that it can no longer verify (never at a segment's last character, whose spare bits may not count). */
function mutate(token: string, n: number, op: number, extra: string): string {
  const segments = token.split('.');
  switch (op % 8) {
    case 0: {
      const positions = [...token].map((ch, i) => i).filter((i) => token[i] !== '.' && token[i + 1] !== '.' && i !== token.length - 1);
      const i = positions[n % positions.length]!;
      const replacement = B64_CHARS[(B64_CHARS.indexOf(token[i]!) + 1 + (n % 63)) % 64]!;
      return token.slice(0, i) + replacement + token.slice(i + 1);
    }
    case 1:
      return token.slice(0, n % token.length);
    case 2:
      return `${token.slice(0, n % token.length)}${extra}${token.slice(n % token.length)}`;
    case 3:
      return [segments[1], segments[0], segments[2]].join('.');
    case 4:
      return [segments[0], segments[1], segments[1]].join('.');
    case 5:
      return `${segments[0]}.${segments[1]}`;
    case 6:
      return `${token}.${extra}`;
    default:
      return token.split('').reverse().join('');
  }
}

const mutatedToken = (token: () => string) =>
  fc.tuple(fc.nat(), fc.nat(), fc.string({ unit: fc.constantFrom(...B64_CHARS, '.', '=', '~', '+', '/'), minLength: 1, maxLength: 4 })).map(([n, op, extra]) => mutate(token(), n, op, extra)).filter((t) => t !== token());

const claims = fc.record(
  {
    iss: fc.oneof(fc.constant('http://localhost:8787'), fc.string()),
    aud: fc.oneof(fc.constant('edge-auth'), fc.array(fc.string()), fc.string()),
    sub: fc.oneof(fc.constant('self'), fc.uuid(), anyJson),
    exp: fc.oneof(fc.integer(), fc.double(), fc.string()),
    iat: fc.oneof(fc.integer(), fc.string()),
    nbf: fc.integer(),
    jti: fc.string(),
    sid: fc.oneof(fc.uuid(), anyJson),
    roles: fc.oneof(fc.constant(['admin']), anyJson),
    username: fc.string(),
  },
  { requiredKeys: [] },
);
const joseHeader = fc.record(
  {
    alg: fc.constantFrom('none', 'None', 'HS256', 'ES256', 'RS256', 'ES512', 'PS256', 'hs256', ''),
    kid: fc.oneof(fc.constant('real'), fc.string({ maxLength: 200 }), anyJson),
    typ: fc.constantFrom('at+jwt', 'JWT', 'jwt', ''),
    jku: fc.webUrl(),
    jwk: fc.record({ kty: fc.constantFrom('EC', 'oct', 'RSA'), k: fc.base64String() }),
    x5u: fc.webUrl(),
    crit: fc.array(fc.string()),
    b64: fc.boolean(),
  },
  { requiredKeys: [] },
);
const forgedToken = fc
  .tuple(fc.oneof(joseHeader, anyJson), fc.oneof(claims, anyJson), fc.oneof(fc.constant(''), fc.base64String({ maxLength: 120 })))
  .map(([h, p, sig]) => {
    const header = isObject(h) && h.kid === 'real' ? { ...h, kid: JSON.parse(atob(victim.access_token.split('.')[0]!.replace(/-/g, '+').replace(/_/g, '/'))).kid } : h;
    const payload = isObject(p) && p.sub === 'self' ? { ...p, sub: victim.user.id } : p;
    return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${sig.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}`;
  });

const badToken = fc.oneof(
  { weight: 4, arbitrary: mutatedToken(() => victim.access_token) },
  { weight: 4, arbitrary: forgedToken },
  { weight: 2, arbitrary: headerValue },
);

const hostileAuthorization = fc.oneof(
  { weight: 6, arbitrary: badToken.map((t) => `Bearer ${t}`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('bearer', 'BEARER', 'Bearer', 'Basic', 'Token', 'JWT', 'DPoP', 'Bearer:', ''), fc.constantFrom(' ', '  ', '\t', ''), badToken).map(([s, sep, t]) => `${s}${sep}${t}`) },
  { weight: 1, arbitrary: fc.array(badToken, { minLength: 2, maxLength: 300 }).map((ts) => ts.map((t) => `Bearer ${t}`).join(', ')) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('Bearer ', ''), fc.constant(null)).map(([s]) => `${s}${victim.access_token} ${victim.access_token}`) },
  { weight: 1, arbitrary: headerValue },
);

const cookieName = fc.oneof(
  fc.constantFrom('__Host-edge_access', '__Secure-edge_refresh', '__Host-edge_csrf', 'edge_access', '__Secure-edge_access', '__host-edge_access'),
  fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/),
);
const cookieValue = fc.oneof(
  mutatedToken(() => victim.access_token),
  mutatedToken(() => cookieValues.refresh),
  forgedToken,
  headerValue.map((v) => v.replace(/;/g, '')),
  fc.string({ maxLength: 30 }).map((s) => encodeURIComponent(s).replace(/%2/g, '%')),
);
const hostileCookie = fc.oneof(
  fc.array(fc.tuple(cookieName, cookieValue), { minLength: 1, maxLength: 8 }).map((pairs) => pairs.map(([n, v]) => `${n}=${v}`).join('; ')),
  fc.integer({ min: 100, max: 3000 }).map((n) => Array.from({ length: n }, (_, i) => `c${i}=${i}`).join(';')),
  headerValue,
);

/** Routes that need an access token, with a harmless body where they take one. */
const PROTECTED: { method: string; path: () => string; body?: string }[] = [
  { method: 'GET', path: () => '/auth/me' },
  { method: 'GET', path: () => '/auth/sessions' },
  { method: 'DELETE', path: () => `/auth/sessions/${victim.user.id}` },
  { method: 'POST', path: () => '/auth/logout' },
  { method: 'POST', path: () => '/auth/logout-all' },
  { method: 'POST', path: () => '/auth/password', body: '{"current_password":"x","new_password":"yyyyyyyy"}' },
  { method: 'POST', path: () => '/auth/email/verify/request' },
  { method: 'POST', path: () => '/auth/email', body: '{"new_email":"fuzz@example.com","current_password":"x"}' },
  { method: 'GET', path: () => '/api/private' },
  { method: 'GET', path: () => '/api/admin' },
  { method: 'GET', path: () => '/admin/keys' },
  { method: 'POST', path: () => '/admin/keys/rotate' },
  { method: 'GET', path: () => '/admin/users' },
  { method: 'GET', path: () => `/admin/users/${victim.user.id}` },
  { method: 'PATCH', path: () => `/admin/users/${victim.user.id}`, body: '{"disabled":true}' },
  { method: 'DELETE', path: () => `/admin/users/${victim.user.id}` },
  { method: 'GET', path: () => `/admin/users/${victim.user.id}/sessions` },
  { method: 'DELETE', path: () => `/admin/users/${victim.user.id}/sessions` },
  { method: 'POST', path: () => `/admin/users/${victim.user.id}/unlock` },
  { method: 'GET', path: () => '/admin/audit' },
  { method: 'GET', path: () => '/auth/api-keys' },
  { method: 'POST', path: () => '/auth/api-keys', body: '{"name":"x"}' },
  { method: 'DELETE', path: () => `/auth/api-keys/${victim.user.id}` },
  { method: 'GET', path: () => `/admin/users/${victim.user.id}/api-keys` },
  { method: 'DELETE', path: () => `/admin/api-keys/${victim.user.id}` },
  { method: 'GET', path: () => '/admin/clients' },
  { method: 'POST', path: () => '/admin/clients', body: '{"name":"x","roles":[]}' },
  { method: 'GET', path: () => '/admin/clients/cl_aaaaaaaaaaaaaaaaaaaaaa' },
  { method: 'PATCH', path: () => '/admin/clients/cl_aaaaaaaaaaaaaaaaaaaaaa', body: '{"disabled":true}' },
  { method: 'POST', path: () => '/admin/clients/cl_aaaaaaaaaaaaaaaaaaaaaa/rotate-secret' },
  { method: 'DELETE', path: () => '/admin/clients/cl_aaaaaaaaaaaaaaaaaaaaaa' },
];

const bearer = (): fc.Arbitrary<[string, string][]> => fc.constant([['Authorization', `Bearer ${victim.access_token}`]]);
const none = (): fc.Arbitrary<[string, string][]> => fc.constant([]);

// ---------------------------------------------------------------------------------------------

/**
 * The fuzz client is exempt from throttling: throttles run before validation, so a throttled case
 * would test nothing (test/rate-limit.test.ts and test/audit-findings.test.ts test the throttles).
 * A 429 is therefore never an accepted answer here.
 */
const ADMIT_ALL = { limit: async () => ({ success: true }) } as unknown as RateLimit;
// The mail routes' binding is captured (test/email-helpers.ts): a rejected request must send nothing.
const mailbox = new CapturedMail();
const unthrottled = () => ({
  ...testEnv({ EMAIL: mailbox as unknown as SendEmail }),
  RL_LOGIN_IP: ADMIT_ALL,
  RL_LOGIN_USER: ADMIT_ALL,
  RL_REGISTER_IP: ADMIT_ALL,
  RL_REFRESH_IP: ADMIT_ALL,
  RL_EMAIL_IP: ADMIT_ALL,
  RL_EMAIL_ADDRESS: ADMIT_ALL,
});

beforeAll(async () => {
  client = new Client(unthrottled());
  victim = await client.signedUp();
  const cookieLogin = await client.request('POST', '/auth/login', {
    json: { username: victim.username, password: victim.password, mode: 'cookie' },
    headers: { Origin: 'http://localhost' },
  });
  const jar = Object.fromEntries(cookieLogin.headers.getSetCookie().map((c) => c.split(';')[0]!.split('=') as [string, string]));
  cookieValues = { access: jar['__Host-edge_access']!, refresh: jar['__Secure-edge_refresh']!, csrf: jar['__Host-edge_csrf']! };
  expect(Object.values(cookieValues).every(Boolean)).toBe(true);
  const admin = await client.register(uniqueName('boss'));
  await client.env.DB.prepare(`UPDATE users SET roles = '["admin"]' WHERE id = ?`).bind(admin.id).run();
  boss = await client.login(admin.username, admin.password);
});

afterAll(() => {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const detail = [...counts].map(([name, n]) => `${name}=${n}`).join(', ');
  console.log(`fuzz summary: ${total} generated cases across ${counts.size} properties in ${((Date.now() - started) / 1000).toFixed(1)} s (${detail})`);
});

describe('fuzz: every answer to a malformed request is a 4xx JSON error and changes nothing', () => {
  it('hostile Authorization headers on every protected route: 401', async () => {
    const arb = fc.record({ route: fc.constantFrom(...PROTECTED), authorization: hostileAuthorization, ip: ipHeader, noise }).map(({ route, authorization, ip, noise: n }) => ({
      method: route.method,
      path: route.path(),
      headers: [['Authorization', authorization], ['CF-Connecting-IP', ip], ['Content-Type', 'application/json'], ...n] as [string, string][],
      body: route.method === 'POST' || route.method === 'PATCH' ? route.body ?? '' : undefined,
    }));
    await fuzz('authorization', arb.filter((r) => r.headers[0]![1].trim() !== `Bearer ${victim.access_token}`), runs(1200), async (res, req) => {
      expect(await expectRejected(res, req, [401])).toMatch(/^(unauthorized|invalid_token)$/);
      expect(res.headers.get('WWW-Authenticate'), describeReq(req)).toMatch(/^Bearer realm="edge-auth"/);
    });
  });

  it('hostile cookies, Origin and X-CSRF-Token on cookie-authenticated routes', async () => {
    const arb = fc
      .record({
        route: fc.constantFrom(...PROTECTED, { method: 'POST', path: () => '/auth/refresh', body: undefined }),
        cookie: hostileCookie,
        origin: fc.option(fc.oneof(fc.constant('http://localhost'), fc.constant('null'), fc.webUrl(), headerValue)),
        csrf: fc.option(fc.oneof(fc.constant('csrf'), headerValue)),
        ip: ipHeader,
      })
      .map(({ route, cookie, origin, csrf, ip }) => {
        const csrfValue = csrf === 'csrf' ? 'fuzz-csrf-value' : csrf;
        const jar = csrf === 'csrf' ? `${cookie}; __Host-edge_csrf=fuzz-csrf-value` : cookie;
        const headers: [string, string][] = [['Cookie', jar], ['CF-Connecting-IP', ip]];
        if (origin !== null) headers.push(['Origin', origin]);
        if (csrfValue !== null) headers.push(['X-CSRF-Token', csrfValue]);
        if (route.body !== undefined) headers.push(['Content-Type', 'application/json']);
        return { method: route.method, path: route.path(), headers, body: route.method === 'POST' || route.method === 'PATCH' ? route.body ?? '' : undefined };
      });
    await fuzz('cookies', arb, runs(700), async (res, req) => {
      const code = await expectRejected(res, req, [400, 401, 403, 415]);
      if (req.method === 'GET') expect(code).toMatch(/^(unauthorized|invalid_token)$/);
    });
  });

  it('POST /auth/register with malformed bodies', async () => {
    const template = fc.record({ username: validUsername.map((u) => `${u}_${uniqueName('f')}`), password: goodPassword, email: fc.constant('fuzz@example.com') }, { requiredKeys: ['username', 'password'] });
    const breakers = fc.oneof(
      drop('username'), drop('password'),
      set('username', invalidUsername), set('username', nonString),
      set('password', fc.string({ maxLength: 7 }).filter((p) => new TextEncoder().encode(p).length < 8)), set('password', overlong(1025)), set('password', nonString),
      set('email', fc.oneof(fc.string({ maxLength: 30 }).filter((e) => !/^[^@\s]+@[^@\s]+\.[a-z]{2,}$/i.test(e)), nonString, fc.constant(`${'a'.repeat(250)}@example.com`))),
      extraKey,
    );
    await fuzz('register', post('/auth/register', none(), badBodies(nearValid(template, breakers), (v) => plausible(v, ['username', 'password', 'email']))), runs(500), async (res, req) => {
      await expectRejected(res, req, [400, 413, 415]);
    });
  });

  it('POST /auth/login with malformed bodies (refused before any password hashing)', async () => {
    const template = fc.record({ username: fc.oneof(validUsername, fc.constant('victim')), password: goodPassword, mode: fc.constantFrom('bearer', 'cookie') }, { requiredKeys: ['username', 'password'] });
    const breakers = fc.oneof(
      drop('username'), drop('password'),
      set('username', nonString), set('username', fc.string({ minLength: 257, maxLength: 400 })),
      set('password', nonString), set('password', fc.constant('')), set('password', overlong(1025)),
      set('mode', fc.oneof(nonString, fc.string().filter((m) => m !== 'bearer' && m !== 'cookie'))),
      extraKey,
    );
    const near = nearValid(template, breakers).map((o) => (o.username === 'victim' ? { ...o, username: victim.username } : o));
    await fuzz('login', post('/auth/login', none(), badBodies(near, (v) => plausible(v, ['username', 'password', 'mode']))), runs(500), async (res, req) => {
      await expectRejected(res, req, [400, 413, 415]);
    });
  });

  it('POST /auth/refresh with malformed bodies and unknown tokens', async () => {
    const template = fc.record({ refresh_token: fc.oneof(mutatedToken(() => victim.refresh_token), fc.base64String({ minLength: 1, maxLength: 60 }), fc.string({ minLength: 1 })) });
    const breakers = fc.oneof(
      fc.constant((o: Record<string, unknown>) => o), // a well-formed body with a token that is not a live one
      set('refresh_token', nonString), set('refresh_token', fc.constant('')), set('refresh_token', fc.string({ minLength: 513, maxLength: 700 })),
      extraKey,
    );
    await fuzz('refresh', post('/auth/refresh', none(), badBodies(nearValid(template, breakers), () => false)), runs(500), async (res, req) => {
      await expectRejected(res, req, [400, 401, 413, 415]);
    });
  });

  it('POST /auth/logout with a valid token and malformed bodies', async () => {
    const template = fc.record({ refresh_token: fc.string({ minLength: 1, maxLength: 60 }) });
    const breakers = fc.oneof(set('refresh_token', nonString), set('refresh_token', fc.constant('')), set('refresh_token', fc.string({ minLength: 513, maxLength: 700 })), extraKey);
    const bodies = badBodies(nearValid(template, breakers), (v) => plausible(v, ['refresh_token'])).filter((b) => Boolean(b.body)); // an empty body is a valid logout
    await fuzz('logout', post('/auth/logout', bearer(), bodies), runs(400), async (res, req) => {
      await expectRejected(res, req, [400, 413, 415]);
    });
  });

  it('POST /auth/password with a valid token and malformed bodies', async () => {
    const template = fc.record({ current_password: goodPassword, new_password: goodPassword });
    const breakers = fc.oneof(
      drop('current_password'), drop('new_password'),
      set('current_password', nonString), set('current_password', fc.constant('')), set('current_password', overlong(1025)),
      set('new_password', nonString), set('new_password', fc.string({ maxLength: 7 }).filter((p) => new TextEncoder().encode(p).length < 8)), set('new_password', overlong(1025)),
      extraKey,
    );
    await fuzz('password', post('/auth/password', bearer(), badBodies(nearValid(template, breakers), (v) => plausible(v, ['current_password', 'new_password']))), runs(400), async (res, req) => {
      await expectRejected(res, req, [400, 413, 415]);
    });
  });

  // The mail routes (docs/email.md): one property each, and a rejected request sends no mail.
  const linkToken = fc.oneof(fc.base64String({ minLength: 1, maxLength: 60 }), fc.string({ minLength: 1, maxLength: 128 }));
  const badLinkToken = fc.oneof(nonString, fc.constant(''), fc.string({ minLength: 129, maxLength: 300 }));
  const badEmail = fc.oneof(fc.string({ maxLength: 30 }).filter((e) => !/^[^@\s]+@[^@\s]+\.[a-z]{2,}$/i.test(e)), nonString, fc.constant(`${'a'.repeat(250)}@example.com`));
  const badNewPassword = fc.oneof(nonString, fc.string({ maxLength: 7 }).filter((p) => new TextEncoder().encode(p).length < 8), overlong(1025));
  const noMailSent = async (property: () => Promise<void>) => {
    const before = mailbox.calls;
    await property();
    expect(mailbox.calls).toBe(before);
  };

  it('POST /auth/email/verify with malformed bodies and unknown link tokens: 400, no mail', () =>
    noMailSent(async () => {
      const verify = nearValid(fc.record({ token: linkToken }), fc.oneof(fc.constant((o: Record<string, unknown>) => o), drop('token'), set('token', badLinkToken), extraKey));
      await fuzz('email-verify', post('/auth/email/verify', none(), badBodies(verify, () => false)), runs(250), async (res, req) => {
        await expectRejected(res, req, [400, 413, 415]);
      });
    }));

  it('POST /auth/password/reset with malformed bodies: 4xx before any hashing, no mail', () =>
    noMailSent(async () => {
      const reset = nearValid(fc.record({ token: linkToken, new_password: goodPassword }), fc.oneof(drop('token'), drop('new_password'), set('token', badLinkToken), set('new_password', badNewPassword), extraKey));
      await fuzz('password-reset', post('/auth/password/reset', none(), badBodies(reset, (v) => plausible(v, ['token', 'new_password']))), runs(250), async (res, req) => {
        await expectRejected(res, req, [400, 413, 415]);
      });
    }));

  it('POST /auth/password/forgot with malformed bodies: 4xx, no mail', () =>
    noMailSent(async () => {
      const forgot = nearValid(
        fc.record({ email: fc.constant('fuzz@example.com'), username: validUsername }, { requiredKeys: [] }),
        fc.oneof(
          fc.constant((o: Record<string, unknown>) => ({ ...o, email: 'fuzz@example.com', username: 'both-given' })),
          fc.constant(() => ({})),
          set('email', badEmail),
          set('username', fc.oneof(nonString, fc.constant(''), fc.string({ minLength: 257, maxLength: 400 }))),
          extraKey,
        ),
      );
      await fuzz('password-forgot', post('/auth/password/forgot', none(), badBodies(forgot, (v) => plausible(v, ['email', 'username']))), runs(250), async (res, req) => {
        await expectRejected(res, req, [400, 413, 415]);
      });
    }));

  it('POST /auth/email with a valid token and malformed bodies: 4xx, no mail', () =>
    noMailSent(async () => {
      const change = nearValid(
        fc.record({ new_email: fc.constant('fuzz-new@example.com'), current_password: goodPassword }),
        fc.oneof(drop('new_email'), drop('current_password'), set('new_email', badEmail), set('current_password', fc.oneof(nonString, fc.constant(''), overlong(1025))), extraKey),
      );
      await fuzz('email-change', post('/auth/email', bearer(), badBodies(change, (v) => plausible(v, ['new_email', 'current_password']))), runs(250), async (res, req) => {
        await expectRejected(res, req, [400, 413, 415]);
      });
    }));

  it('hostile X-API-Key headers on every protected route: 401 invalid_token, no storage read for a bad checksum', async () => {
    const keyish = fc.oneof(
      fc.stringMatching(/^eak_[0-9A-Za-z]{49}$/), // the right shape: the checksum refuses all but ~1 in 4 billion
      fc.string({ maxLength: 80 }).map((s) => `eak_${s}`),
      headerValue,
    );
    const arb = fc.record({ route: fc.constantFrom(...PROTECTED), key: keyish, ip: ipHeader, noise }).map(({ route, key, ip, noise: n }) => ({
      method: route.method,
      path: route.path(),
      headers: [['X-API-Key', key], ['CF-Connecting-IP', ip], ['Content-Type', 'application/json'], ...n] as [string, string][],
      body: route.method === 'POST' || route.method === 'PATCH' ? route.body ?? '' : undefined,
    }));
    await fuzz('api-key-header', arb, runs(400), async (res, req) => {
      expect(await expectRejected(res, req, [401])).toBe('invalid_token');
    });
  });

  it('/oauth endpoints with malformed forms and hostile client authentication: RFC 6749 errors, never a 5xx', async () => {
    const throttled = client;
    client = new Client(unthrottled(), throttled.clock);
    const param = fc.constantFrom('grant_type', 'client_id', 'client_secret', 'scope', 'token', 'token_type_hint', 'x');
    const value = fc.oneof(fc.constantFrom('client_credentials', 'password', 'cl_aaaaaaaaaaaaaaaaaaaaaa', 'ecs_x', victim.access_token, ''), fc.string({ maxLength: 60 }), headerValue);
    const formBody = fc.oneof(
      fc.array(fc.tuple(param, value), { maxLength: 6 }).map((pairs) => new URLSearchParams(pairs).toString()),
      fc.string({ maxLength: 200 }),
      malformedJson,
    );
    const authorization = fc.option(fc.oneof(
      fc.tuple(fc.string({ maxLength: 30 }), fc.string({ maxLength: 30 })).map(([a, b]) => `Basic ${btoa(unescape(encodeURIComponent(`${a}:${b}`)))}`),
      fc.constant('Basic cl_aaaaaaaaaaaaaaaaaaaaaa:ecs_x'),
      hostileAuthorization,
    ));
    const arb = fc.record({ path: fc.constantFrom('/oauth/token', '/oauth/introspect', '/oauth/revoke'), body: formBody, type: fc.oneof(fc.constant('application/x-www-form-urlencoded'), nonJsonContentType, jsonContentType), authorization, ip: ipHeader })
      .map(({ path, body, type, authorization: a, ip }) => ({
        method: 'POST',
        path,
        headers: [['Content-Type', type], ['CF-Connecting-IP', ip], ...(a !== null ? [['Authorization', a] as [string, string]] : [])] as [string, string][],
        body,
      }));
    try {
      await fuzz('oauth', arb, runs(500), async (res, req) => {
        await expectOAuthRejected(res, req);
      });
    } finally {
      client = throttled;
    }
  });

  it('DELETE /auth/sessions/:id with a valid token and hostile ids', async () => {
    const id = fc.oneof(fc.uuid(), fc.string({ maxLength: 80 }).map(encodeURIComponent), fc.string({ maxLength: 40 }).map((s) => s.replace(/[#?/]/g, '')), fc.constantFrom('%E0%A4%A', '%00', '..%2F..', '%2e%2e'));
    const arb = fc.record({ id, ip: ipHeader, noise }).map(({ id: i, ip, noise: n }) => ({
      method: 'DELETE',
      path: `/auth/sessions/${i}`,
      headers: [['Authorization', `Bearer ${victim.access_token}`], ['CF-Connecting-IP', ip], ...n.filter(([h]) => h !== 'Origin')] as [string, string][],
    }));
    await fuzz('session-ids', arb.filter((r) => r.path !== `/auth/sessions/${JSON.parse(atob(victim.access_token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))).sid}`), runs(400), async (res, req) => {
      await expectRejected(res, req, [404]);
    });
  });

  it('any method on any path without credentials: public GETs answer 200, everything else a 4xx', async () => {
    const known = ['/health', '/auth/register', '/auth/login', '/auth/refresh', '/auth/logout', '/auth/logout-all', '/auth/password', '/auth/me', '/auth/sessions',
      '/auth/sessions/x', '/api/private', '/api/admin', '/.well-known/jwks.json', '/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/admin/users', '/admin/keys',
      '/auth/api-keys', '/admin/clients', '/admin/api-keys/x', '/oauth/token', '/oauth/introspect', '/oauth/revoke'];
    const path = fc.oneof(
      fc.constantFrom(...known),
      fc.tuple(fc.constantFrom(...known), fc.string({ maxLength: 30 })).map(([p, s]) => `${p}${encodeURI(s).replace(/#/g, '%23')}`),
      fc.tuple(fc.constantFrom(...known), fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 20 }))).map(([p, q]) => `${p}?${new URLSearchParams(q)}`),
      fc.webPath().map((p) => p || '/'),
    );
    const arb = fc.record({ method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'PROPFIND'), path, ip: ipHeader, noise, body: fc.option(fc.string({ maxLength: 100 })) })
      .map(({ method, path: p, ip, noise: n, body }) => ({
        method,
        path: p.startsWith('/') ? p : `/${p}`,
        headers: [['CF-Connecting-IP', ip], ...n] as [string, string][],
        body: method === 'GET' || method === 'HEAD' || body === null ? undefined : body,
      }));
    const publicGets = new Set(['/health', '/.well-known/jwks.json', '/.well-known/oauth-authorization-server']);
    await fuzz('methods-paths', arb, runs(800), async (res, req) => {
      const pathname = new URL(`http://localhost${req.path}`).pathname;
      if (res.status < 400) {
        const text = await res.text();
        const ok = ((req.method === 'GET' || req.method === 'HEAD') && publicGets.has(pathname) && res.status === 200) || (req.method === 'OPTIONS' && res.status === 204);
        expect(ok, `${describeReq(req)} -> ${res.status} ${text.slice(0, 100)}`).toBe(true);
        if (req.method === 'GET') expect(() => JSON.parse(text)).not.toThrow();
        return;
      }
      if (req.method === 'POST' && OAUTH_PATHS.has(pathname)) {
        await expectOAuthRejected(res, req);
        return;
      }
      await expectRejected(res, req);
    });
  });

  it('admin routes with a valid token that lacks the role: 403 insufficient_scope, whatever else is sent', async () => {
    const admin = PROTECTED.filter((r) => r.path().startsWith('/admin/') || r.path() === '/api/admin');
    const arb = fc.record({ route: fc.constantFrom(...admin), ip: ipHeader, noise, body: fc.option(fc.oneof(malformedJson, anyJson.map((v) => JSON.stringify(v)))) }).map(({ route, ip, noise: n, body }) => ({
      method: route.method,
      path: route.path(),
      headers: [['Authorization', `Bearer ${victim.access_token}`], ['CF-Connecting-IP', ip], ['Content-Type', 'application/json'], ...n.filter(([h]) => h !== 'Origin')] as [string, string][],
      body: route.method === 'POST' || route.method === 'PATCH' ? body ?? '' : undefined,
    }));
    await fuzz('admin-scope', arb, runs(200), async (res, req) => {
      expect(await expectRejected(res, req, [403])).toBe('insufficient_scope');
    });
  });

  it('admin API, as an administrator: hostile query strings on the lists are a 200 or a 400', async () => {
    const names = fc.oneof(
      fc.constantFrom('limit', 'cursor', 'username_prefix', 'user', 'actor', 'event', 'outcome', 'since', 'until'),
      fc.string({ maxLength: 10 }),
    );
    const values = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.integer({ min: -10, max: 1000 }).map(String),
      fc.base64String({ maxLength: 80 }),
      fc.uuid(),
      fc.constantFrom('success', 'failure', 'login', '%E0%A4%A', '0', '99999999999999', 'YTE6', 'dTE6'),
      fc.string({ minLength: 300, maxLength: 600 }),
    );
    const query = fc.array(fc.tuple(names, values, fc.boolean()), { maxLength: 5 }).map((pairs) =>
      pairs.map(([k, v, raw]) => (raw ? `${k.replace(/[#&=]/g, '')}=${v.replace(/[#&]/g, '')}` : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)).join('&'),
    );
    const arb = fc.record({ path: fc.constantFrom('/admin/users', '/admin/audit'), query, ip: ipHeader }).map(({ path, query: q, ip }) => ({
      method: 'GET',
      path: `${path}?${q}`,
      headers: [['Authorization', `Bearer ${boss.access_token}`], ['CF-Connecting-IP', ip]] as [string, string][],
    }));
    await fuzz('admin-queries', arb, runs(400), async (res, req) => {
      if (res.status === 200) {
        const body = (await res.json()) as Record<string, unknown>;
        expect(Array.isArray(body.users ?? body.events), describeReq(req)).toBe(true);
        return;
      }
      expect(await expectRejected(res, req, [400])).toBe('invalid_request');
    });
  });

  it('admin API, as an administrator: hostile user ids are a 404, malformed PATCH bodies a 4xx', async () => {
    const id = fc.oneof(fc.uuid(), fc.string({ maxLength: 60 }).map(encodeURIComponent), fc.constantFrom('%E0%A4%A', '%00', '..', '1 OR 1=1'));
    const byId = fc.record({
      id,
      route: fc.constantFrom(
        { method: 'GET', suffix: '' }, { method: 'DELETE', suffix: '' }, { method: 'GET', suffix: '/sessions' },
        { method: 'DELETE', suffix: '/sessions' }, { method: 'POST', suffix: '/unlock' }, { method: 'PATCH', suffix: '' },
      ),
      ip: ipHeader,
    }).map(({ id: i, route: { method, suffix }, ip }) => ({
      method,
      path: `/admin/users/${i}${suffix}`,
      headers: [['Authorization', `Bearer ${boss.access_token}`], ['CF-Connecting-IP', ip], ['Content-Type', 'application/json']] as [string, string][],
      body: method === 'PATCH' ? '{"disabled":true}' : method === 'POST' ? '' : undefined,
    }));
    const template = fc.record({ roles: fc.array(fc.stringMatching(/^[a-z][a-z0-9_:-]{0,10}$/), { maxLength: 3 }), email: fc.constantFrom('a@example.com', null), disabled: fc.boolean() }, { requiredKeys: [] });
    const breakers = fc.oneof(
      set('roles', anyJson.filter((v) => !Array.isArray(v))),
      set('roles', fc.array(fc.oneof(fc.string().filter((r) => !/^[a-z][a-z0-9_:-]{0,31}$/.test(r)), nonString), { minLength: 1, maxLength: 3 })),
      set('roles', fc.array(fc.stringMatching(/^[a-z]{1,8}$/), { minLength: 17, maxLength: 30 })),
      set('email', fc.oneof(fc.string({ maxLength: 30 }).filter((e) => !/^[^@\s]+@[^@\s]+\.[a-z]{2,}$/i.test(e)), fc.integer(), fc.boolean())),
      set('disabled', anyJson.filter((v) => typeof v !== 'boolean')),
      extraKey,
    );
    const patch = post(`/admin/users/{victim}`, fc.constant([]), badBodies(nearValid(template, breakers), (v) => isObject(v) && Object.keys(v).every((k) => ['roles', 'email', 'disabled'].includes(k)))).map((r) => ({
      ...r,
      method: 'PATCH',
      path: `/admin/users/${victim.user.id}`,
      headers: [['Authorization', `Bearer ${boss.access_token}`] as [string, string], ...r.headers],
    }));
    const known = () => [victim.user.id, boss.user.id];
    await fuzz('admin-ids-bodies', fc.oneof(byId.filter((r) => !known().some((k) => r.path.includes(k))), patch), runs(500), async (res, req) => {
      await expectRejected(res, req, req.path.endsWith(victim.user.id) && req.method === 'PATCH' ? [400, 413, 415] : [404]);
    });
  });

  it('RPC AuthService.verify with hostile tokens and options: a typed refusal, never a throw', async () => {
    const options = fc.oneof(
      fc.constant(undefined),
      fc.record({ roles: fc.oneof(anyJson, fc.array(fc.string({ maxLength: 40 }), { maxLength: 40 })) }, { requiredKeys: [] }),
      anyJson,
    );
    const token = fc.oneof({ weight: 6, arbitrary: badToken }, { weight: 1, arbitrary: anyJson }, { weight: 1, arbitrary: fc.constant(undefined) });
    let n = 0;
    const baseline = await rows();
    await fc.assert(
      fc.asyncProperty(token, options, async (t, o) => {
        n++;
        const result = await verifyToken(client.env, t, client.clock.seconds, o as never);
        const label = JSON.stringify([typeof t === 'string' ? t.slice(0, 80) : t, o]).slice(0, 300);
        expect(result.ok, label).toBe(false);
        if (!result.ok) {
          expect(['invalid_request', 'invalid_token'], label).toContain(result.error);
          expect(typeof result.message, label).toBe('string');
        }
      }),
      { numRuns: runs(600) },
    );
    // The control: the genuine token verifies, and fails only for the missing role.
    expect((await verifyToken(client.env, victim.access_token, client.clock.seconds)).ok).toBe(true);
    expect(await verifyToken(client.env, victim.access_token, client.clock.seconds, { roles: ['admin'] })).toMatchObject({ ok: false, error: 'insufficient_scope' });
    expect(await rows()).toBe(baseline);
    counts.set('rpc-verify', n);
  });

  it('well-formed logins and password changes with wrong credentials: 401, same body (hashing runs: fewer cases)', async () => {
    const username = fc.oneof(
      fc.constant(() => victim.username),
      fc.constant(() => victim.username.toUpperCase()),
      validUsername.map((u) => () => `${u}_${uniqueName('nobody')}`),
      invalidUsername.filter((u) => u.length > 0 && u.length <= 256).map((u) => () => u),
    );
    const password = goodPassword.filter((p) => p !== victim.password);
    const login = fc.record({ username, password, ip: ipHeader }).map(({ username: u, password: p, ip }) => ({
      method: 'POST',
      path: '/auth/login',
      headers: [['Content-Type', 'application/json'], ['CF-Connecting-IP', ip]] as [string, string][],
      body: JSON.stringify({ username: u(), password: p }),
    }));
    const change = fc.record({ password, next: goodPassword, ip: ipHeader }).map(({ password: p, next, ip }) => ({
      method: 'POST',
      path: '/auth/password',
      headers: [['Authorization', `Bearer ${victim.access_token}`], ['Content-Type', 'application/json'], ['CF-Connecting-IP', ip]] as [string, string][],
      body: JSON.stringify({ current_password: p, new_password: next }),
    }));
    await fuzz('wrong-credentials', fc.oneof({ weight: 3, arbitrary: login }, { weight: 1, arbitrary: change }), runs(30), async (res, req) => {
      const code = await expectRejected(res, req, [401]);
      expect(code).toBe('invalid_credentials');
    });
  });
});

describe('fuzz: the victim is still fine afterwards', () => {
  it('its access token, refresh token and cookie session still work (nothing was revoked or rotated)', async () => {
    expect((await client.request('GET', '/auth/me', { token: victim.access_token })).status).toBe(200);
    const refreshed = await client.request('POST', '/auth/refresh', { json: { refresh_token: victim.refresh_token } });
    expect(refreshed.status).toBe(200);
    const viaCookie = await client.request('GET', '/api/private', { headers: { Cookie: `__Host-edge_access=${cookieValues.access}` } });
    expect(viaCookie.status).toBe(200);
  });
});
