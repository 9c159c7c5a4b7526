// `npm run test:cli`: user:create end to end. The CLI writes a user into a fresh local database
// (a temporary --persist-to), then `npm run dev` serves that database and the user logs in over
// HTTP: the hash made in Node verifies in workerd, and the role reaches the admin API.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nodePasswordHasher } from './lib/node-password';
import { apiKeyEntries, insertUserSql, liveKeysSql, reconcileKeyCopies, sqlString, updateUserSql } from './lib/user-sql';
import { startServer, type Server } from '../test-node/harness.mjs';

const ROOT = join(import.meta.dirname, '..');
const persist = mkdtempSync(join(tmpdir(), 'edge-auth-cli-test-'));
const PASSWORD = 'first admin password';
const NEW_PASSWORD = 'replacement password';
let base = '';
let server: Server | undefined;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI without blocking the event loop: a blocked loop misses the server closing idle
 * keep-alive connections, and the next fetch would fail on a dead socket.
 */
function userCreate(args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '-s', 'user:create', '--', ...args, '--persist-to', persist], {
      cwd: ROOT,
      env: { ...process.env, CI: 'true' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

async function post(path: string, body: unknown, token?: string): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
}

interface Tokens {
  access_token: string;
  refresh_token: string;
  user: { id: string; username: string; roles: string[] };
}

describe('npm run user:create', () => {
  before(async () => {
    const created = await userCreate(['--username', 'Cli_Admin', '--password', PASSWORD, '--role', 'admin']);
    assert.equal(created.status, 0, created.stderr);
    assert.match(created.stdout, /created user "Cli_Admin" \(.+\) in the local database with roles \["admin"\]/);
    assert.ok(!created.stdout.includes(PASSWORD) && !created.stderr.includes(PASSWORD), 'the password is never printed');

    // The one harness of the node-side suites: process group, bounded waits, always stopped.
    server = await startServer({ persist, ...(process.env.EDGE_AUTH_DEV_LOG ? { logFile: process.env.EDGE_AUTH_DEV_LOG } : {}) });
    base = server.base;
  });

  after(async () => {
    await server?.stop();
    rmSync(persist, { recursive: true, force: true });
  });

  it('creates a user who can log in through wrangler dev and use the admin API', async () => {
    const login = await post('/auth/login', { username: 'cli_admin', password: PASSWORD });
    assert.equal(login.status, 200);
    const tokens = (await login.json()) as Tokens;
    assert.deepEqual(tokens.user.roles, ['admin']);
    const users = await fetch(`${base}/admin/users?username_prefix=cli_`, { headers: { Authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(users.status, 200);
    const body = (await users.json()) as { users: { username: string; roles: string[] }[] };
    assert.deepEqual(body.users.map((u) => [u.username, u.roles]), [['Cli_Admin', ['admin']]]);

    const wrong = await post('/auth/login', { username: 'cli_admin', password: 'not the password' });
    assert.equal(wrong.status, 401);
  });

  it('refuses an existing name without --update-existing, and a look-alike always (audit finding 1)', async () => {
    // Someone registered the name first: the operator's command must not promote their account.
    const squatter = await post('/auth/register', { username: 'ops_root', password: PASSWORD });
    assert.equal(squatter.status, 201);
    const refused = await userCreate(['--username', 'OPS_ROOT', '--password', NEW_PASSWORD, '--role', 'admin']);
    assert.equal(refused.status, 1, refused.stderr);
    assert.match(refused.stderr, /a user named "ops_root" exists already; nothing was changed.*--update-existing/);
    const login = await post('/auth/login', { username: 'ops_root', password: PASSWORD });
    assert.equal(login.status, 200, 'the existing account is untouched');
    assert.deepEqual(((await login.json()) as Tokens).user.roles, []);

    for (const lookAlike of ['CIi_Admin', 'cli_adrnin']) {
      const run = await userCreate(['--username', lookAlike, '--password', NEW_PASSWORD, '--role', 'admin', '--update-existing']);
      assert.equal(run.status, 1, run.stderr);
      assert.match(run.stderr, /look-alike of the existing user "Cli_Admin"/);
    }
  });

  it('updates an existing user with --update-existing: new password (from stdin), roles kept, sessions and tokens ended', async () => {
    const before = (await (await post('/auth/login', { username: 'cli_admin', password: PASSWORD })).json()) as Tokens;
    const updated = await userCreate(['--username', 'CLI_ADMIN', '--password-stdin', '--update-existing'], `${NEW_PASSWORD}\n`);
    assert.equal(updated.status, 0, updated.stderr);
    assert.match(updated.stdout, /updated existing user "Cli_Admin" .*password reset, roles \["admin"\] -> \["admin"\], account enabled and unlocked, \d+ session\(s\) ended/);

    assert.equal((await post('/auth/login', { username: 'cli_admin', password: PASSWORD })).status, 401);
    const after = await post('/auth/login', { username: 'cli_admin', password: NEW_PASSWORD });
    assert.equal(after.status, 200);
    assert.deepEqual(((await after.json()) as Tokens).user.roles, ['admin']);

    assert.equal((await post('/auth/refresh', { refresh_token: before.refresh_token })).status, 401);
    const old = await fetch(`${base}/api/private`, { headers: { Authorization: `Bearer ${before.access_token}` } });
    assert.equal(old.status, 401, 'the old access token is on the revocation list');
  });

  it('--update-existing with new roles reaches the user\'s API keys (their KV copies are rewritten)', async () => {
    const login = (await (await post('/auth/login', { username: 'cli_admin', password: NEW_PASSWORD })).json()) as Tokens;
    const created = await post('/auth/api-keys', { name: 'ops bot', roles: ['admin'] }, login.access_token);
    assert.equal(created.status, 201, await created.clone().text());
    const { api_key: apiKey } = (await created.json()) as { api_key: string };
    const asKey = (path: string) => fetch(`${base}${path}`, { headers: { 'X-API-Key': apiKey } });
    assert.equal((await asKey('/api/admin')).status, 200, 'the key holds admin while its owner does');

    const demoted = await userCreate(['--username', 'cli_admin', '--password-stdin', '--update-existing', '--role', 'support'], `${NEW_PASSWORD}\n`);
    assert.equal(demoted.status, 0, demoted.stderr);
    assert.match(demoted.stdout, /roles \["admin"\] -> \["support"\].*1 API key\(s\) re-synced to those roles/);

    // GET /api/admin checks roles from the key's KV copy (no fresh D1 read, unlike the admin API).
    // Within the revocation bound (each isolate re-reads a key's copy every 5 s), not at expiry.
    const deadline = Date.now() + 20_000;
    let status = 0;
    while ((status = (await asKey('/api/admin')).status) !== 403 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    assert.equal(status, 403, 'the demoted owner\'s key no longer holds admin');
    assert.equal((await asKey('/api/private')).status, 200, 'the key itself stays live (a password reset is not a key revocation)');
  });

  it('refuses bad input with exit code 2 and writes nothing', async () => {
    const cases: string[][] = [
      ['--username', 'has space', '--password', PASSWORD],
      ['--username', 'validname', '--password', 'short'],
      ['--username', 'validname', '--password', PASSWORD, '--role', 'Admin'],
      ['--username', 'validname', '--password', PASSWORD, '--email', 'not-an-email'],
      ['--username', 'validname'],
      ['--username', 'validname', '--password', PASSWORD, '--unknown'],
      ['--username', 'validname', '--password', PASSWORD, '--remote'], // --persist-to is local only
    ];
    for (const args of cases) {
      const run = await userCreate(args);
      assert.equal(run.status, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /Usage: npm run user:create/);
    }
    assert.equal((await post('/auth/login', { username: 'validname', password: PASSWORD })).status, 401);
  });
});

describe('user:create building blocks', () => {
  it('escapes SQL string literals and refuses NUL', () => {
    assert.equal(sqlString("o'neil"), "'o''neil'");
    assert.equal(sqlString("''; DROP TABLE users; --"), "'''''; DROP TABLE users; --'");
    assert.throws(() => sqlString('a\u0000b'));
    const write = { id: 'id-1', username: 'a', usernameKey: 'a', usernameSkeleton: 'a', passwordHash: 'h', roles: undefined, email: "x'y@example.com", now: 1 };
    assert.ok(insertUserSql(write).includes("'x''y@example.com'"));
    assert.ok(insertUserSql(write).includes('ON CONFLICT DO NOTHING'), 'creating never overwrites an existing account');
    assert.ok(updateUserSql(write).includes('roles = roles,'), 'roles are kept when none are given');
  });

  it('writes API-key copies as the Worker does: the key\'s roles intersected with the owner\'s, until the key expires', () => {
    const row = { id: 'k1', key_hash: 'abc', roles: '["admin","deploy"]', expires_at: 1_000 + 86_400, owner_id: 'u1', owner_username: 'Ops', owner_roles: '["support","deploy"]' };
    const [entry, ...rest] = apiKeyEntries([row], 1_000);
    assert.equal(rest.length, 0);
    assert.deepEqual(entry, {
      key: 'apikey:abc',
      value: JSON.stringify({ id: 'k1', uid: 'u1', username: 'Ops', roles: ['deploy'], exp: 1_000 + 86_400 }),
      expiration_ttl: 86_400,
    });
    const [soon] = apiKeyEntries([{ ...row, key_hash: 'def', expires_at: 1_010, owner_roles: 'not json' }], 1_000);
    assert.equal(soon!.expiration_ttl, 60, 'never below KV\'s minimum TTL');
    assert.equal(JSON.parse(soon!.value).roles.length, 0, 'unreadable owner roles grant nothing');
    assert.match(liveKeysSql("o'neil", 5), /u\.username_key = 'o''neil' AND u\.disabled = 0 AND k\.revoked_at IS NULL AND k\.expires_at > 5;/);
  });

  it('redoes what the API changed between its read and its write: revoked keys withdrawn, changed ones rewritten', () => {
    const row = { id: 'k1', key_hash: 'a', roles: '["deploy"]', expires_at: 9_000, owner_id: 'u1', owner_username: 'Ops', owner_roles: '["deploy"]' };
    const written = apiKeyEntries([row, { ...row, id: 'k2', key_hash: 'b' }, { ...row, id: 'k3', key_hash: 'c' }], 1_000);
    // Meanwhile: k2 revoked; the owner lost "deploy" (k3's copy changes); k1 unchanged.
    const current = apiKeyEntries([{ ...row, owner_roles: '[]' }, { ...row, id: 'k3', key_hash: 'c', owner_roles: '[]' }], 1_000);
    const { put, remove } = reconcileKeyCopies(written, current);
    assert.deepEqual(remove, ['apikey:b']);
    assert.deepEqual(put.map((e) => [e.key, JSON.parse(e.value).roles]), [['apikey:a', []], ['apikey:c', []]]);
    assert.deepEqual(reconcileKeyCopies(written, written), { put: [], remove: [] });
  });

  it('hashes with the Worker parameters and verifies its own hashes', async () => {
    const phc = await nodePasswordHasher.hashPassword('some password');
    assert.match(phc, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    assert.deepEqual(await nodePasswordHasher.verifyPassword('some password', phc), { ok: true, needsRehash: false });
    assert.equal((await nodePasswordHasher.verifyPassword('other password', phc)).ok, false);
  });
});
