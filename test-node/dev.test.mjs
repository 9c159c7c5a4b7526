// Local development still starts from a clean clone: `npm run dev` in a fresh copy of the project
// (no .dev.vars, no .wrangler state) generates random secrets, applies the migrations, serves
// /health, registers and logs in; a second run keeps .dev.vars as it was, and the user and the
// signing key made in the first run still work (a rewritten KEY_ENCRYPTION_KEY could not decrypt
// that key). The server runs through test-node/harness.mjs (process group, bounded waits).
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { after, describe, it } from 'node:test';
import { ROOT } from './fixtures.mjs';
import { startServer } from './harness.mjs';

const START_TIMEOUT_MS = 90_000;
/** Not copied: what a clean clone does not have. */
const SKIP = new Set(['node_modules', '.git', '.wrangler', '.dev.vars', 'dist', 'test-results', 'bench', 'e2e']);


function cleanCopy() {
  const dir = mkdtempSync(join(tmpdir(), 'edge-auth-dev-'));
  cpSync(ROOT, dir, {
    recursive: true,
    filter: (src) => {
      const rel = relative(ROOT, src);
      return rel === '' || !SKIP.has(rel.split(sep)[0]);
    },
  });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

/** `npm run dev` in `dir` on the shared state directory; `health` is what /health answered. */
async function startDev(dir, state) {
  const server = await startServer({ cwd: dir, persist: state, startTimeoutMs: START_TIMEOUT_MS });
  const health = await (await fetch(`${server.base}/health`, { signal: AbortSignal.timeout(5_000) })).json();
  return { ...server, health };
}

function post(base, path, body) {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
}

describe('npm run dev from a clean copy', { timeout: 4 * START_TIMEOUT_MS }, () => {
  const dir = cleanCopy();
  const state = join(dir, '.state');
  const devVars = join(dir, '.dev.vars');
  const running = [];
  const user = { username: 'devcheck', password: 'correct horse battery staple' };
  let first;

  after(async () => {
    await Promise.all(running.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('first run: creates .dev.vars with random secrets, migrates, serves, registers and logs in', async () => {
    const server = await startDev(dir, state);
    running.push(server);
    assert.deepEqual(server.health, { status: 'ok' });
    assert.match(server.output(), /created \.dev\.vars with random JWT_SECRET and KEY_ENCRYPTION_KEY/);

    first = readFileSync(devVars, 'utf8');
    const secrets = Object.fromEntries([...first.matchAll(/^([A-Z_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
    assert.deepEqual(Object.keys(secrets).sort(), ['JWT_SECRET', 'KEY_ENCRYPTION_KEY']);
    for (const value of Object.values(secrets)) assert.match(value, /^[A-Za-z0-9_-]{64}$/, '48 random bytes, base64url');
    assert.notEqual(secrets.JWT_SECRET, secrets.KEY_ENCRYPTION_KEY);
    assert.equal(statSync(devVars).mode & 0o777, 0o600, '.dev.vars is readable by its owner only');

    assert.equal((await post(server.base, '/auth/register', user)).status, 201);
    const login = await post(server.base, '/auth/login', user);
    assert.equal(login.status, 200, await login.clone().text());
    assert.equal(typeof (await login.json()).access_token, 'string');
    await server.stop();
  });

  it('second run: keeps .dev.vars, and the first run’s user and signing key still work', async (t) => {
    if (first === undefined) return t.skip('the first run failed');
    const mtime = statSync(devVars).mtimeMs;
    const server = await startDev(dir, state);
    running.push(server);
    assert.doesNotMatch(server.output(), /created \.dev\.vars/);
    assert.equal(readFileSync(devVars, 'utf8'), first);
    assert.equal(statSync(devVars).mtimeMs, mtime);

    const login = await post(server.base, '/auth/login', user);
    assert.equal(login.status, 200, await login.clone().text());
    const { access_token: token } = await login.json();
    const me = await fetch(`${server.base}/auth/me`, { headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(15_000) });
    assert.equal(me.status, 200);
    await server.stop();
  });
});
