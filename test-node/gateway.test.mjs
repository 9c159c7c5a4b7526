// Issue 13 in Node: the gateway under `wrangler dev` (through the asset server, as deployed) in
// front of the example origin (examples/origin) on a local port. Streams both ways: SSE events
// arrive before the stream ends, a WebSocket echoes, a large upload arrives byte-exact (SHA-256)
// and a large download streams through; a dead origin is 502; the origin refuses requests that
// did not come through edge-auth.
//
// Size: 100 MiB (about 4 s each way here); GATEWAY_TEST_MIB=<n> overrides.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { patternDigest, startOrigin } from '../examples/origin/server.mjs';
import { startServer } from './harness.mjs';
import { freePort } from './ports.mjs';

const MIB = Number(process.env.GATEWAY_TEST_MIB ?? 100);
const BYTES = MIB * 1024 * 1024;
const T = (ms) => AbortSignal.timeout(ms);
const PYTHON = '/usr/bin/python3'; // Debian's, with python3-jwt (PyJWT)
const VERIFY_PY = fileURLToPath(new URL('../examples/origin/verify_assertion.py', import.meta.url));

/** Runs the documented PyJWT verifier; resolves { code, stdout, stderr }. */
function python(args) {
  return new Promise((resolve) => execFile(PYTHON, [VERIFY_PY, ...args], { timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? err.code ?? 1 : 0, stdout, stderr })));
}

/** A bare upstream that keeps every request's headers (to see the raw assertion) and path. */
async function startCapture() {
  const seen = [];
  const paths = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    paths.push(req.url);
    req.resume();
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('captured');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, seen, paths, close: () => new Promise((resolve) => server.close(resolve)) };
}

describe('gateway under wrangler dev, in front of the example origin', { timeout: 600_000 }, () => {
  let origin;
  let dev;
  let token;
  let deadPort;
  let capture;

  before(async () => {
    deadPort = await freePort(); // nothing listens there
    origin = await startOrigin({ port: 0, edgeAuth: () => dev.base, quiet: true });
    const upstream = origin.url;
    capture = await startCapture();
    const routes = [
      { path: '/app-api/capture/admin/*', roles: ['admin'], upstream: capture.url, strip_prefix: '/app-api/capture' },
      { path: '/app-api/capture/*', upstream: capture.url, strip_prefix: '/app-api/capture' },
      { path: '/app-api/dead/*', upstream: `http://127.0.0.1:${deadPort}`, strip_prefix: '/app-api/dead', timeout_ms: 5000 },
      { path: '/app-api/*', upstream, strip_prefix: '/app-api', max_body_bytes: 200 * 1024 * 1024, timeout_ms: 30000 },
    ];
    dev = await startServer({ vars: { GATEWAY_ROUTES: JSON.stringify(routes) } });
    const user = { username: `gw${Date.now().toString(36)}`, password: 'correct horse battery staple' };
    const json = { 'Content-Type': 'application/json' };
    assert.equal((await fetch(`${dev.base}/auth/register`, { method: 'POST', headers: json, body: JSON.stringify(user), signal: T(30_000) })).status, 201);
    const login = await fetch(`${dev.base}/auth/login`, { method: 'POST', headers: json, body: JSON.stringify(user), signal: T(30_000) });
    assert.equal(login.status, 200);
    token = (await login.json()).access_token;
  });

  after(async () => {
    await dev?.stop();
    await origin?.close();
    await capture?.close();
  });

  const auth = () => ({ Authorization: `Bearer ${token}` });

  it('notes CRUD through the gateway; the origin reads the caller from the assertion', async () => {
    const created = await fetch(`${dev.base}/app-api/notes`, { method: 'POST', headers: { ...auth(), 'Content-Type': 'application/json' }, body: JSON.stringify({ text: 'first' }), signal: T(15_000) });
    assert.equal(created.status, 201);
    const { note } = await created.json();
    const list = await (await fetch(`${dev.base}/app-api/notes`, { headers: auth(), signal: T(15_000) })).json();
    assert.deepEqual(list.notes.map((n) => n.text), ['first']);
    const patched = await fetch(`${dev.base}/app-api/notes/${note.id}`, { method: 'PATCH', headers: { ...auth(), 'Content-Type': 'application/json' }, body: JSON.stringify({ text: 'edited' }), signal: T(15_000) });
    assert.equal((await patched.json()).note.text, 'edited');
    assert.equal((await fetch(`${dev.base}/app-api/notes/${note.id}`, { method: 'DELETE', headers: auth(), signal: T(15_000) })).status, 204);
    const who = await (await fetch(`${dev.base}/app-api/whoami`, { headers: auth(), signal: T(15_000) })).json();
    assert.equal(who.claims.subject_type, 'user');
    assert.equal(who.claims.aud, origin.url);
  });

  it('reaches the Worker through the asset server: no SPA fallback, a 401 in the house format', async () => {
    // The bare prefix too: "/app-api/*" in run_worker_first does not cover "/app-api" (wrangler.toml lists both).
    for (const path of ['/app-api/notes', '/app-api']) {
      const res = await fetch(`${dev.base}${path}`, { signal: T(15_000) });
      assert.equal(res.status, 401, path);
      assert.equal((await res.json()).error, 'unauthorized', path);
    }
  });

  it("dot segments, encoded dots and backslashes cannot carry a request past a route's roles", async () => {
    // Sent raw (fetch would normalise the URL first): each one resolves to /app-api/capture/admin/secret,
    // whose route needs the admin role this user lacks. Whichever layer normalises (workerd does,
    // before the Worker; the gateway refuses a path whose normalised form changes its route), the
    // request is refused and never reaches the upstream as /admin/secret.
    const port = new URL(dev.base).port;
    const raw = (path) =>
      new Promise((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path, headers: auth(), signal: T(15_000) }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        });
        req.on('error', reject);
        req.end();
      });
    const before = capture.paths.length;
    for (const path of ['/app-api/capture/x/../admin/secret', '/app-api/capture/x/%2e%2e/admin/secret', '/app-api/capture/x/.%2e/admin/secret', '/app-api/capture/x\\..\\admin/secret']) {
      const status = await raw(path);
      assert.ok(status === 403 || status === 400, `${path}: ${status}`);
    }
    assert.deepEqual(capture.paths.slice(before), [], 'the upstream received none of them');
    assert.equal(await raw('/app-api/capture/x/%2e%2e/notes'), 200, 'a dot segment that stays on its route is forwarded');
    assert.equal(capture.paths.at(-1), '/notes');
  });

  it('server-sent events arrive one by one, before the stream ends', async () => {
    const res = await fetch(`${dev.base}/app-api/events?count=3&interval_ms=1000`, { headers: auth(), signal: T(30_000) });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /text\/event-stream/);
    const started = Date.now();
    const arrivals = [];
    let text = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body) {
      text += decoder.decode(chunk, { stream: true });
      const events = text.split('\n\n').length - 1;
      while (arrivals.length < events) arrivals.push(Date.now() - started);
    }
    assert.equal(arrivals.length, 3, text);
    // The first event came about 2 s before the last one, not all at once at the end.
    assert.ok(arrivals[2] - arrivals[0] >= 1500, `arrivals ${arrivals.join(', ')} ms`);
  });

  it('a WebSocket echoes through the gateway; without a token the upgrade is refused', async () => {
    const url = `${dev.base.replace('http', 'ws')}/app-api/ws`;
    const ws = new WebSocket(url, { headers: auth() });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const reply = new Promise((resolve) => ws.once('message', (data) => resolve(String(data))));
    ws.send('hello gateway');
    assert.equal(await reply, 'echo:hello gateway');
    ws.close();

    const refused = new WebSocket(url);
    const status = await new Promise((resolve) => {
      refused.once('unexpected-response', (_req, res) => resolve(res.statusCode));
      refused.once('open', () => resolve('open'));
      refused.once('error', () => resolve('error'));
    });
    assert.equal(status, 401);
  });

  it(`a ${MIB} MiB streamed upload arrives byte-exact (SHA-256)`, async () => {
    const hash = createHash('sha256');
    const chunk = 1024 * 1024;
    let sent = 0;
    let seed = 1;
    const body = new ReadableStream({
      pull(controller) {
        if (sent >= BYTES) return controller.close();
        const bytes = new Uint8Array(Math.min(chunk, BYTES - sent));
        for (let i = 0; i < bytes.length; i += 4096) bytes[i] = seed = (seed * 48271) % 2147483647; // not all one byte
        hash.update(bytes);
        sent += bytes.length;
        controller.enqueue(bytes);
      },
    });
    const res = await fetch(`${dev.base}/app-api/upload`, { method: 'POST', headers: { ...auth(), 'Content-Type': 'application/octet-stream' }, body, duplex: 'half', signal: T(300_000) });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), { bytes: BYTES, sha256: hash.digest('hex') });
  });

  it(`a ${MIB} MiB download streams through`, async () => {
    const res = await fetch(`${dev.base}/app-api/download?bytes=${BYTES}`, { headers: auth(), signal: T(300_000) });
    assert.equal(res.status, 200);
    const hash = createHash('sha256');
    let received = 0;
    let chunks = 0;
    for await (const chunk of res.body) {
      received += chunk.length;
      chunks++;
      hash.update(chunk);
    }
    assert.equal(received, BYTES);
    assert.equal(hash.digest('hex'), patternDigest(BYTES));
    assert.ok(chunks > 1, 'arrived in pieces, not as one buffer');
  });

  it('an origin that is down gives 502 bad_gateway, without its address', async () => {
    const res = await fetch(`${dev.base}/app-api/dead/anything`, { headers: auth(), signal: T(30_000) });
    assert.equal(res.status, 502);
    const text = await res.text();
    assert.equal(JSON.parse(text).error, 'bad_gateway');
    assert.ok(!text.includes(String(deadPort)) && !text.includes('127.0.0.1'), text);
  });

  it('the origin refuses requests that did not come through edge-auth', async () => {
    const before = origin.requests.length;
    const bare = await fetch(`${origin.url}/notes`, { signal: T(15_000) });
    assert.equal(bare.status, 401);
    // A bearer token is not an assertion, and a self-made assertion has no key in edge-auth's JWKS.
    const withToken = await fetch(`${origin.url}/notes`, { headers: { ...auth(), 'X-Edge-Auth-Assertion': token }, signal: T(15_000) });
    assert.equal(withToken.status, 401);
    const forged = await new SignJWT({ subject_type: 'user', roles: ['admin'] })
      .setProtectedHeader({ alg: 'HS256', typ: 'edge-auth-assertion+jwt' })
      .setSubject('someone').setIssuer('http://localhost:8787').setAudience(origin.url).setIssuedAt().setExpirationTime('1m')
      .sign(new TextEncoder().encode('x'.repeat(32)));
    const spoofed = await fetch(`${origin.url}/notes`, { headers: { 'X-Edge-Auth-Assertion': forged, 'X-Edge-Auth-User-Id': 'someone' }, signal: T(15_000) });
    assert.equal(spoofed.status, 401);
    assert.deepEqual(origin.requests.slice(before).map((r) => r.verdict), ['refused', 'refused', 'refused']);
  });

  it('the assertion verifies with PyJWT (examples/origin/verify_assertion.py), and an access token does not', { skip: !existsSync(PYTHON) }, async (t) => {
    const probe = await python(['-', '-', '-', '-']).catch(() => ({ code: 1, stderr: 'no python' }));
    if (/No module named 'jwt'/.test(probe.stderr)) return t.skip('python3-jwt (PyJWT) is not installed');
    assert.equal((await fetch(`${dev.base}/app-api/capture/x`, { headers: auth(), signal: T(15_000) })).status, 200);
    const assertion = capture.seen.at(-1)['x-edge-auth-assertion'];
    const jwksUrl = `${dev.base}/.well-known/jwks.json`;
    const ok = await python([assertion, capture.url, jwksUrl, 'http://localhost:8787']);
    assert.equal(ok.code, 0, ok.stderr);
    const claims = JSON.parse(ok.stdout);
    assert.equal(claims.subject_type, 'user');
    assert.equal(claims.aud, capture.url);
    assert.ok(claims.exp - claims.iat <= 60);
    const wrongAudience = await python([assertion, origin.url, jwksUrl, 'http://localhost:8787']);
    assert.notEqual(wrongAudience.code, 0);
    const accessToken = await python([token, 'edge-auth', jwksUrl, 'http://localhost:8787']);
    assert.notEqual(accessToken.code, 0);
    assert.match(accessToken.stderr, /not an edge-auth assertion/);
  });
});
