// Every place the service reads input, attacked by hand. Each answer is a 4xx JSON error
// with a stable code (never a 5xx), and the input is not stored or echoed in a harmful form.
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { desc, eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { describe, expect, it } from 'vitest';
import { sessions, users } from '../src/db/schema';
import { ERROR_STATUS } from '../src/errors';
import { MAX_BODY_BYTES, MAX_JSON_DEPTH } from '../src/lib/body';
import { Client, errorOf, testEnv, uniqueName } from './helpers';
import { parse as parseCookie } from 'hono/utils/cookie';
import { csrfTokenFor } from '../src/lib/cookie-mode';

const ORIGIN = 'http://localhost'; // the test requests' own origin
const b64url = (text: string) => btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const jws = (header: unknown, payload: unknown, sig = 'c2ln') => `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${sig}`;

/** A 4xx JSON `{error, message}` whose code is known and matches the status. */
async function expectClientError(res: Response, label: string): Promise<string> {
  expect(res.status, label).toBeGreaterThanOrEqual(400);
  expect(res.status, label).toBeLessThan(500);
  expect(res.headers.get('Content-Type'), label).toMatch(/^application\/json/);
  const body = (await res.json()) as { error: keyof typeof ERROR_STATUS; message: string };
  expect(Object.keys(body).sort(), label).toEqual(['error', 'message']);
  expect(ERROR_STATUS[body.error], label).toBe(res.status);
  return body.error;
}

const PROTECTED: [string, string, unknown?][] = [
  ['GET', '/auth/me'],
  ['GET', '/auth/sessions'],
  ['DELETE', '/auth/sessions/00000000-0000-4000-8000-000000000000'],
  ['POST', '/auth/logout'],
  ['POST', '/auth/logout-all'],
  ['POST', '/auth/password', { current_password: 'correct horse battery', new_password: 'another good password' }],
  ['GET', '/api/private'],
  ['GET', '/api/admin'],
];

describe('hostile Authorization headers are a 401 on every protected route', () => {
  it('huge, repeated, oddly encoded and forged values', async () => {
    const c = new Client(testEnv());
    const t = await c.signedUp();
    const [h, p] = t.access_token.split('.') as [string, string];
    const values = [
      `Bearer ${'a'.repeat(100_000)}`,
      Array.from({ length: 1000 }, () => `Bearer ${t.access_token}`).join(', '),
      `Bearer ${t.access_token} ${t.access_token}`,
      `Bearer ${t.access_token}\u007f`, // DEL after a good token
      `Bearer =?utf-8?b?${btoa(t.access_token)}?=`, // RFC 2047 encoded word
      `Bearer\t${t.access_token}`,
      `Bearer ${encodeURIComponent(t.access_token.replace(/\./g, '%'))}`,
      'Bearer ====',
      'Bearer ...',
      'Bearer a.b.c',
      `Bearer ${h}.${p}`,
      `Bearer ${h}.${p}.`,
      `Bearer ${h}.${p}.${'A'.repeat(86)}`,
      `Bearer ${jws({ alg: 'none' }, { sub: t.user.id })}`,
      `Bearer ${jws(null, null)}`,
      `Bearer ${jws([1, 2], 'text')}`,
      `Bearer ${jws({ alg: c.config.alg, kid: { $ne: 1 } }, {})}`,
      `Bearer ${jws({ alg: c.config.alg, kid: "' OR 1=1 --" }, {})}`,
      `Bearer ${jws({ alg: c.config.alg, kid: '../../../etc/passwd', typ: 'at+jwt' }, {})}`,
      `Bearer ${jws({ alg: c.config.alg, kid: 'k'.repeat(3000) }, {})}`,
      `Bearer ${jws({ alg: c.config.alg, kid: 'x', crit: ['exp'] }, {})}`,
      `Bearer ${b64url('{"alg":')}.${p}.c2ln`,
      `Basic ${btoa('admin:admin')}`,
      `Negotiate ${'x'.repeat(5000)}`,
      '',
      'Bearer',
    ];
    for (const [method, path, json] of PROTECTED) {
      for (const value of values) {
        const label = `${method} ${path} with ${JSON.stringify(value.slice(0, 60))}`;
        const res = await c.request(method, path, { json, headers: { Authorization: value } });
        expect(res.status, label).toBe(401);
        expect(['unauthorized', 'invalid_token'], label).toContain(await expectClientError(res, label));
        expect(res.headers.get('WWW-Authenticate'), label).toMatch(/^Bearer realm="edge-auth"/);
      }
    }
    // The control: the same routes accept the genuine token.
    expect((await c.request('GET', '/api/private', { token: t.access_token })).status).toBe(200);
  });

  it('tokens are never taken from the query string (RFC 6750 section 2.3 is not offered)', async () => {
    const c = new Client(testEnv());
    const t = await c.signedUp();
    const res = await c.request('GET', `/api/private?access_token=${t.access_token}`);
    expect(res.status).toBe(401);
    expect(await expectClientError(res, 'query token')).toBe('unauthorized');
  });
});

describe('hostile cookies', () => {
  const garbage = [
    'x'.repeat(100_000),
    '%E0%A4%A',
    '"quoted"',
    '\u007f\u007f',
    'a.b.c',
    '%00%00',
    '==',
  ];

  it('a hostile access cookie is a 401 on GET routes', async () => {
    const c = new Client(testEnv());
    const cookies = [
      ...garbage.map((g) => `__Host-edge_access=${g}`),
      Array.from({ length: 2000 }, (_, i) => `c${i}=${i}`).join('; '),
      Array.from({ length: 50 }, () => '__Host-edge_access=a.b.c').join('; '),
      '=; ; ;;; =;',
      `__Host-edge_access=${jws({ alg: 'none' }, {})}`,
    ];
    for (const path of ['/auth/me', '/auth/sessions', '/api/private', '/api/admin']) {
      for (const cookie of cookies) {
        const label = `${path} with cookie ${JSON.stringify(cookie.slice(0, 50))}`;
        const res = await c.request('GET', path, { headers: { Cookie: cookie } });
        expect(res.status, label).toBe(401);
        await expectClientError(res, label);
      }
    }
  });

  it('a hostile refresh cookie is refused: 403 without CSRF proof, 401 invalid_grant with it', async () => {
    const c = new Client(testEnv());
    for (const g of garbage) {
      const label = JSON.stringify(g.slice(0, 20));
      // Values outside the cookie grammar (RFC 6265) are dropped: then there is no refresh token at all.
      const seen = parseCookie(`__Secure-edge_refresh=${g}`)['__Secure-edge_refresh'];
      const proof = seen ? await csrfTokenFor(c.config, seen) : 'csrfvalue'; // the CSRF token bound to what the server sees
      const cookie = `__Secure-edge_refresh=${g}; __Host-edge_csrf=${proof}`;
      const noProof = await c.request('POST', '/auth/refresh', { headers: { Cookie: cookie } });
      expect(await expectClientError(noProof, label)).toBe(seen ? 'csrf_failed' : 'invalid_request');
      const withProof = await c.request('POST', '/auth/refresh', { headers: { Cookie: cookie, Origin: ORIGIN, 'X-CSRF-Token': proof } });
      expect(await expectClientError(withProof, label)).toBe(seen ? 'invalid_grant' : 'invalid_request');
    }
  });

  it('hostile X-CSRF-Token and Origin values are a 403 csrf_failed', async () => {
    const c = new Client(testEnv());
    const cookie = '__Host-edge_access=a.b.c; __Host-edge_csrf=csrfvalue';
    const cases: Record<string, string>[] = [
      { Origin: ORIGIN, 'X-CSRF-Token': 'c'.repeat(100_000) },
      { Origin: ORIGIN, 'X-CSRF-Token': 'csrfvalu\u007f' },
      { Origin: ORIGIN, 'X-CSRF-Token': '' },
      { Origin: 'null', 'X-CSRF-Token': 'csrfvalue' },
      { Origin: `${ORIGIN}.evil.example`, 'X-CSRF-Token': 'csrfvalue' },
      { Origin: 'x'.repeat(50_000), 'X-CSRF-Token': 'csrfvalue' },
      { Origin: 'http://LOCALHOST', 'X-CSRF-Token': 'csrfvalue' },
      { 'Sec-Fetch-Site': 'cross-site', 'X-CSRF-Token': 'csrfvalue' },
    ];
    for (const headers of cases) {
      const res = await c.request('POST', '/auth/logout', { headers: { Cookie: cookie, ...headers } });
      expect(await expectClientError(res, JSON.stringify(headers).slice(0, 80))).toBe('csrf_failed');
    }
  });
});

describe('client metadata headers', () => {
  it('a bogus CF-Connecting-IP is not stored; a huge User-Agent is truncated and stripped of controls', async () => {
    const c = new Client(testEnv());
    const u = await c.register();
    const res = await c.request('POST', '/auth/login', {
      json: { username: u.username, password: u.password },
      headers: { 'CF-Connecting-IP': `<script>${'9'.repeat(5000)}`, 'User-Agent': `agent\u0001\u007f${'u'.repeat(10_000)}` },
    });
    expect(res.status).toBe(200);
    const row = await drizzle(c.env.DB).select().from(sessions).where(eq(sessions.userId, u.id)).orderBy(desc(sessions.createdAt)).get();
    expect(row!.ip).toBeNull();
    expect(row!.userAgent).toBe(`agent${'u'.repeat(249)}`);
    const good = await c.request('POST', '/auth/login', { json: { username: u.username, password: u.password }, headers: { 'CF-Connecting-IP': '2001:DB8::7' } });
    expect(good.status).toBe(200);
    const ips = (await drizzle(c.env.DB).select().from(sessions).where(eq(sessions.userId, u.id)).all()).map((s) => s.ip);
    expect(ips).toContain('2001:db8::7');
  });
});

describe('path and query parameters', () => {
  it('a hostile session id is a 404, whatever its encoding or size', async () => {
    const c = new Client(testEnv());
    const t = await c.signedUp();
    const ids = ['nope', '%E0%A4%A', '%00', '..%2F..%2Fauth%2Fme', encodeURIComponent('\u00e9\u{1F600}'), 'a'.repeat(10_000),
      '00000000-0000-4000-8000-000000000000', `${t.user.id}`, "1' OR '1'='1"];
    for (const id of ids) {
      const res = await c.request('DELETE', `/auth/sessions/${id}`, { token: t.access_token });
      expect(res.status, id.slice(0, 40)).toBe(404);
      await expectClientError(res, id.slice(0, 40));
    }
    // The caller's own session is untouched by all of that.
    expect((await c.request('GET', '/auth/me', { token: t.access_token })).status).toBe(200);
  });

  it('unknown query parameters, odd paths and methods are ignored or a 404/JSON', async () => {
    const c = new Client(testEnv());
    for (const [method, path] of [
      ['GET', '/health?x=%E0%A4%A&x=1&__proto__=1'],
      ['GET', '/.well-known/oauth-authorization-server?' + 'a=1&'.repeat(2000)],
    ] as const) {
      expect((await c.request(method, path)).status).toBe(200);
    }
    for (const [method, path] of [
      ['GET', '/auth/login'],
      ['PUT', '/auth/login'],
      ['POST', '/health'],
      ['GET', '/auth/%E0%A4%A'],
      ['GET', '//auth//me'],
      ['GET', `/${'x/'.repeat(2000)}`],
      ['PROPFIND', '/api/private'],
    ] as const) {
      const res = await c.request(method, path);
      expect(await expectClientError(res, `${method} ${path.slice(0, 40)}`)).toBe('not_found');
    }
  });
});

describe('request bodies', () => {
  const c = () => new Client(testEnv());
  const raw = (body: BodyInit, contentType?: string): { body: string; headers: Record<string, string> } => ({
    body: body as string,
    headers: contentType ? { 'Content-Type': contentType } : {},
  });

  it('content types: only application/json (any case, with parameters) is accepted', async () => {
    for (const type of ['application/x-www-form-urlencoded', 'text/json', 'application/jsonx', 'application/json-patch+json', 'text/plain', 'multipart/form-data; boundary=x', '']) {
      const res = await c().request('POST', '/auth/login', raw('{"username":"abc","password":"x"}', type || undefined));
      expect(await expectClientError(res, type)).toBe('unsupported_media_type');
    }
    const ok = await c().request('POST', '/auth/login', raw('{"username":"abc"}', 'Application/JSON; charset=utf-8'));
    expect(await expectClientError(ok, 'json with charset')).toBe('invalid_request'); // parsed, then refused for shape
  });

  it('size: 413 at the limit, whether declared or streamed without a length', async () => {
    const big = JSON.stringify({ username: 'abc', password: 'p'.repeat(MAX_BODY_BYTES) });
    const declared = await c().request('POST', '/auth/register', raw(big, 'application/json'));
    expect(declared.status).toBe(413);
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 40; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(1024)));
        controller.close();
      },
    });
    const client = c();
    const ctx = createExecutionContext();
    const res = await client.app.fetch(
      new Request('http://localhost/auth/login', { method: 'POST', body: stream, headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': '192.0.2.1' } }),
      client.env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(413);
    expect((await errorOf(res)).error).toBe('payload_too_large');
  });

  it('depth: nesting beyond the limit is refused before parsing; shapes are strict', async () => {
    const nest = (n: number) => `{"username":${'['.repeat(n - 1)}1${']'.repeat(n - 1)},"password":"x"}`;
    const deep = await c().request('POST', '/auth/login', raw(nest(MAX_JSON_DEPTH + 1), 'application/json'));
    expect(await errorOf(deep)).toEqual({ error: 'invalid_request', message: 'The request body is nested too deeply.' });
    const huge = await c().request('POST', '/auth/login', raw('['.repeat(MAX_BODY_BYTES - 10), 'application/json'));
    expect(await expectClientError(huge, 'deep array')).toBe('invalid_request');
    const atLimit = await c().request('POST', '/auth/login', raw(nest(MAX_JSON_DEPTH), 'application/json'));
    expect((await errorOf(atLimit)).message).toMatch(/username/); // parsed, then refused for its type
    // Brackets inside strings do not count.
    const inString = await c().request('POST', '/auth/login', raw(JSON.stringify({ username: '['.repeat(100), password: '{'.repeat(100) }), 'application/json'));
    expect(await errorOf(inString)).toEqual({ error: 'invalid_credentials', message: expect.any(String) });
  });

  it('strings, unknown fields, prototype keys, invalid UTF-8: 400 with a short message that echoes no value', async () => {
    const secret = 'hunter2-but-longer';
    const bodies: string[] = [
      JSON.stringify({ username: 'valid_name', password: secret, __proto__x: 1 }),
      '{"username":"valid_name","password":"' + secret + '","__proto__":{"admin":true}}',
      '{"username":"valid_name","password":"' + secret + '","constructor":{"prototype":{"admin":true}}}',
      JSON.stringify(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`field_${i}_${'k'.repeat(60)}`, secret]))),
      JSON.stringify({ username: 'u'.repeat(257), password: secret }),
      JSON.stringify({ username: 'valid_name', password: 'p'.repeat(1025) }),
      JSON.stringify({ username: 'valid_name', password: secret, mode: 'cookie\u0000' }),
      JSON.stringify({ username: ['valid_name'], password: secret }),
      JSON.stringify({ username: 'valid_name', password: { $gt: '' } }),
    ];
    for (const body of bodies) {
      const res = await c().request('POST', '/auth/login', raw(body, 'application/json'));
      const label = body.slice(0, 60);
      expect(await expectClientError(res.clone(), label)).toBe('invalid_request');
      const { message } = await errorOf(res);
      expect(message.length, label).toBeLessThanOrEqual(200);
      expect(message, label).not.toContain(secret);
    }
    const invalidUtf8 = new Uint8Array([0x7b, 0x22, 0x75, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc0, 0x22, 0x7d]); // {"u":"\xff\xfe\xc0"}
    const res = await c().request('POST', '/auth/login', raw(invalidUtf8 as unknown as string, 'application/json'));
    expect(await expectClientError(res, 'invalid utf-8')).toBe('invalid_request');
  });

  it('register: email and username limits hold', async () => {
    for (const json of [
      { username: uniqueName(), password: 'correct horse battery', email: `${'a'.repeat(250)}@example.com` },
      { username: uniqueName(), password: 'correct horse battery', email: 'a@b' },
      { username: uniqueName(), password: 'correct horse battery', email: 42 },
      { username: `${uniqueName()}\u0000`, password: 'correct horse battery' },
    ]) {
      expect(await expectClientError(await c().request('POST', '/auth/register', { json }), JSON.stringify(json).slice(0, 60))).toBe('invalid_request');
    }
  });
});

describe('Unicode usernames: look-alikes cannot register a second account', () => {
  it('compatibility forms fold to the existing name (409); other scripts and invisible characters are refused (400)', async () => {
    const c = new Client(testEnv());
    const base = `pay${Math.random().toString(36).slice(2, 8)}`;
    const { id } = await c.register(`${base}_office`);
    const folded = [
      `${base}_oﬃce`, // U+FB03 LATIN SMALL LIGATURE FFI
      `${base.toUpperCase()}_OFFICE`,
      [...`${base}_office`].map((ch) => String.fromCodePoint(ch.codePointAt(0)! + 0xfee0)).join(''), // full-width
      `${base}_𝐨𝐟𝐟𝐢𝐜𝐞`, // mathematical bold
      `${base}_office`.replace('office', '\u1d52ffice'), // U+1D52 MODIFIER LETTER SMALL O
    ];
    for (const name of folded) {
      const res = await c.request('POST', '/auth/register', { json: { username: name, password: 'another password' } });
      expect(res.status, name).toBe(409);
    }
    const refused = [
      `${base}_оffice`, // Cyrillic о
      `${base}_οffice`, // Greek omicron
      `${base}_off\u200Bice`, // zero-width space
      `${base}_office\u0301`, // combining acute accent
      `${base}_ofﬁce\u202E`, // right-to-left override
      `${base}_ofﬁce\u00a0`, // no-break space folds to a space: still outside the alphabet
      `${base}_ofﬁce\u{E0041}`, // tag character
      `${base}_offıce`, // dotless i
    ];
    for (const name of refused) {
      const res = await c.request('POST', '/auth/register', { json: { username: name, password: 'another password' } });
      expect(res.status, name).toBe(400);
    }
    const all = await drizzle(c.env.DB).select().from(users).all();
    expect(all.filter((u) => u.usernameKey.startsWith(base))).toEqual([expect.objectContaining({ id })]);
  });
});
