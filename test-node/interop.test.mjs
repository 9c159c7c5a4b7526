// Independent verification: tokens issued by a real `npm run dev` server are verified in
// plain Node with node:crypto, sharing no code with jose or the service, starting from nothing but
// the issuer URL: discovery document -> jwks_uri -> JWK -> ECDSA P-256 verify over the JWS signing
// input, with the IEEE P1363 (r || s) signature encoding JWS uses (RFC 7518 section 3.4).
// The keys are made by `npm run keys:rotate` (the CLI), so this also proves the CLI seals keys the
// service can open, and that a CLI rotation reaches the running server.
//
// Run: npm run test:interop. The server runs through test-node/harness.mjs (bounded waits, always stopped).
import { spawnSync } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ensureDevVars } from '../scripts/dev-vars.mjs';
import { startServer } from './harness.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const STARTUP_DEADLINE_MS = 90_000;
const REQUEST_TIMEOUT_MS = 10_000;
const ROTATION_DEADLINE_MS = 30_000; // CACHE_TTL_SECONDS (10) plus generous slack


const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function run(cmd, args) {
  const result = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, CI: 'true' } });
  assert.equal(result.status, 0, `${cmd} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** `npm run keys:rotate` against the test database; returns the kids it reports. */
function rotateWithCli(persist) {
  const out = run('npm', ['run', '--silent', 'keys:rotate', '--', '--persist-to', persist]);
  const kid = (label) => new RegExp(`^\\s+${label}\\s+(\\S+)`, 'm').exec(out)?.[1];
  return { active: kid('active'), next: kid('next'), retired: kid('retired') };
}

async function http(url, init = {}) {
  return fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
}

function b64urlJson(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/**
 * A second, independent JWS verifier: only node:crypto and the issuer's published metadata.
 * Returns the payload, or throws with the reason.
 */
async function verifyIndependently(token, issuer, audience) {
  const discovery = await (await http(new URL('.well-known/oauth-authorization-server', `${issuer}/`))).json();
  assert.equal(discovery.issuer, issuer, 'discovery issuer');
  assert.ok(discovery.access_token_signing_alg_values_supported.includes('ES256'));
  const jwksRes = await http(discovery.jwks_uri);
  const { keys } = await jwksRes.json();

  const [h, p, s] = token.split('.');
  const header = b64urlJson(h);
  assert.equal(header.alg, 'ES256', 'alg pinned to ES256');
  assert.equal(header.typ, 'at+jwt');
  const jwk = keys.find((k) => k.kid === header.kid);
  if (!jwk) throw new Error(`kid ${header.kid} is not in the JWKS`);
  assert.deepEqual([jwk.kty, jwk.crv, jwk.alg, jwk.use], ['EC', 'P-256', 'ES256', 'sig']);
  assert.equal(jwk.d, undefined, 'no private member in the JWKS');

  const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: 'jwk' });
  const signature = Buffer.from(s, 'base64url');
  assert.equal(signature.length, 64, 'ES256 signature is r || s, 32 bytes each');
  const ok = verify('sha256', Buffer.from(`${h}.${p}`, 'ascii'), { key, dsaEncoding: 'ieee-p1363' }, signature);
  if (!ok) throw new Error('signature does not verify');

  const payload = b64urlJson(p);
  const now = Math.floor(Date.now() / 1000);
  assert.equal(payload.iss, issuer);
  assert.equal(payload.aud, audience);
  assert.ok(payload.exp > now && payload.iat <= now + 5, 'time claims');
  return { payload, header, jwksRes };
}

describe('ES256 tokens verified with node:crypto from the discovery document', () => {
  let server;
  let issuer;
  let persist;
  let cliKeys;

  async function signedUp() {
    const username = `interop_${Math.random().toString(36).slice(2, 10)}`;
    const password = 'correct horse battery';
    const post = (path, body) =>
      http(`${issuer}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await post('/auth/register', { username, password })).status, 201);
    const login = await post('/auth/login', { username, password });
    assert.equal(login.status, 200);
    const body = await login.json();
    // A fresh access token from the current signing key. Through refresh, not login: polling the
    // login endpoint would run into its throttles (10 a minute per username, 20 per address).
    let refreshToken = body.refresh_token;
    const fresh = async () => {
      const res = await post('/auth/refresh', { refresh_token: refreshToken });
      assert.equal(res.status, 200);
      const next = await res.json();
      refreshToken = next.refresh_token;
      return next.access_token;
    };
    return { ...body, username, password, fresh };
  }

  before(async () => {
    ensureDevVars(join(ROOT, '.dev.vars')); // the server and the CLI share the local secrets
    persist = mkdtempSync(join(tmpdir(), 'edge-auth-interop-'));
    run('npx', ['wrangler', 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist]);
    cliKeys = rotateWithCli(persist); // the first keys come from the CLI, not from the service
    assert.ok(cliKeys.active && cliKeys.next && !cliKeys.retired, 'the CLI created the first keys');
    server = await startServer({ persist, varsFor: (port) => ({ JWT_ISSUER: `http://127.0.0.1:${port}` }), startTimeoutMs: STARTUP_DEADLINE_MS });
    issuer = server.base;
  });

  after(async () => {
    await server?.stop();
    if (persist) rmSync(persist, { recursive: true, force: true });
  });

  it('verifies an issued token using only the issuer URL, and rejects a tampered one', async () => {
    const t = await signedUp();
    const { payload, header, jwksRes } = await verifyIndependently(t.access_token, issuer, 'edge-auth');
    assert.equal(payload.sub, t.user.id);
    assert.equal(payload.username, t.username);
    assert.equal(header.kid, cliKeys.active, 'the service signs with the key the CLI created and sealed');
    assert.equal(jwksRes.headers.get('access-control-allow-origin'), '*');
    assert.match(jwksRes.headers.get('cache-control'), /^public, max-age=\d+$/);

    // The negative controls: one changed claim, or one changed signature byte, fails.
    const [h, p, s] = t.access_token.split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ ...payload, roles: ['admin'] })).toString('base64url');
    await assert.rejects(verifyIndependently(`${h}.${forgedPayload}.${s}`, issuer, 'edge-auth'), /signature does not verify/);
    const sig = Buffer.from(s, 'base64url');
    sig[10] ^= 1;
    await assert.rejects(verifyIndependently(`${h}.${p}.${sig.toString('base64url')}`, issuer, 'edge-auth'), /signature does not verify/);
  });

  it('a CLI rotation reaches the running server; old and new tokens both verify independently', async (ctx) => {
    const t = await signedUp();
    const rotated = rotateWithCli(persist);
    const rotatedAt = Date.now();
    assert.equal(rotated.retired, cliKeys.active);
    assert.equal(rotated.active, cliKeys.next, 'the pre-published next key became active');

    // The server's isolates pick the rotation up within CACHE_TTL_SECONDS.
    const deadline = Date.now() + ROTATION_DEADLINE_MS;
    let token;
    for (;;) {
      token = await t.fresh();
      if (b64urlJson(token.split('.')[0]).kid === rotated.active) break;
      if (Date.now() > deadline) throw new Error(`server still signs with the old key after ${ROTATION_DEADLINE_MS} ms`);
      await sleep(250);
    }
    ctx.diagnostic(`the server signed with the new key ${Date.now() - rotatedAt} ms after the CLI rotation finished`);
    await verifyIndependently(token, issuer, 'edge-auth');
    await verifyIndependently(t.access_token, issuer, 'edge-auth'); // the retired key is still published
    const { keys } = await (await http(`${issuer}/.well-known/jwks.json`)).json();
    assert.deepEqual(new Set(keys.map((k) => k.kid)), new Set([rotated.active, rotated.next, rotated.retired]));
    // And the service itself still accepts the old token.
    const me = await http(`${issuer}/auth/me`, { headers: { Authorization: `Bearer ${t.access_token}` } });
    assert.equal(me.status, 200);
  });
});
