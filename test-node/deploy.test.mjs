// `npm run deploy` end to end, with a stand-in `wrangler` on PATH (Cloudflare cannot be reached
// from here): which wrangler commands run, in which order, and that each refusal stops the steps
// after it. The health check talks to a local server on 127.0.0.1 playing the deployed Worker.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { COMMITTED_TOML, edit, filledToml, ROOT, writeProject } from './fixtures.mjs';

const STUB = `#!/usr/bin/env node
// Stand-in for wrangler: records its arguments, answers like wrangler would.
const { appendFileSync } = require('node:fs');
const args = process.argv.slice(2);
appendFileSync(process.env.STUB_LOG, JSON.stringify(args) + '\\n');
const cmd = args.slice(0, 2).join(' ');
if (process.env.STUB_FAIL && cmd.startsWith(process.env.STUB_FAIL)) { console.error('stub: ' + cmd + ' failed'); process.exit(1); }
if (cmd === 'secret list') console.log(JSON.stringify(JSON.parse(process.env.STUB_SECRETS).map((name) => ({ name, type: 'secret_text' }))));
if (cmd === 'd1 time-travel') console.log(JSON.stringify({ bookmark: '00000085-0000024c-00004c6d-8e61117bf38d7adb71b934ebbf891683', timestamp: '2026-11-23T12:00:00Z' }));
`;

/** What the stand-in deployed Worker answers on /<name>/health: one path per case, no shared state. */
const ANSWERS = {
  healthy: { status: 200, body: '{"status":"ok"}' },
  misconfigured: {
    status: 500,
    body: '{"error":"misconfigured","message":"The service is misconfigured: KEY_ENCRYPTION_KEY: must be at least 32 characters of random data"}',
  },
  unrouted: { status: 404, body: 'not routed yet' },
};
let server;
let base;
const healthUrl = (answer) => `${base}/${answer}/health`;

before(async () => {
  server = createServer((req, res) => {
    const answer = ANSWERS[/^\/(\w+)\/health$/.exec(req.url ?? '')?.[1]] ?? { status: 404, body: 'no such path' };
    res.writeHead(answer.status, { 'Content-Type': 'application/json' });
    res.end(answer.body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});
after(() => server.close());

function run(toml, args, { secrets = ['KEY_ENCRYPTION_KEY'], fail } = {}) {
  const dir = writeProject(toml);
  const bin = mkdtempSync(join(tmpdir(), 'edge-auth-stub-'));
  writeFileSync(join(bin, 'wrangler'), STUB);
  chmodSync(join(bin, 'wrangler'), 0o755);
  const log = join(bin, 'calls.log');
  const env = {
    ...process.env,
    PATH: [bin, join(ROOT, 'node_modules', '.bin'), process.env.PATH].join(delimiter),
    STUB_LOG: log,
    STUB_SECRETS: JSON.stringify(secrets),
    STUB_FAIL: fail ?? '',
  };
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'deploy.mjs'), ...args], { cwd: dir, env });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      clearTimeout(timer);
      const calls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
      resolve({ code, output, calls });
    });
  });
}

/** The command words of each call: everything before the first option. */
const commands = (calls) => calls.map((c) => c.slice(0, c.findIndex((a) => a.startsWith('-'))).join(' '));

describe('npm run deploy', { timeout: 180_000 }, () => {
  it('checks, lists secrets, records a restore point, migrates, deploys, then checks /health', async () => {
    const { code, output, calls } = await run(filledToml(), ['--env', 'staging', '--health-url', healthUrl('healthy')]);
    assert.equal(code, 0, output);
    assert.deepEqual(commands(calls), ['secret list', 'd1 time-travel info DB', 'd1 migrations apply DB', 'deploy']);
    for (const call of calls) assert.deepEqual(call.slice(-2), ['--env', 'staging'], 'every wrangler call names the environment');
    assert.ok(calls[2].includes('--remote'), 'migrations go to the remote database');
    assert.match(output, /npx wrangler d1 time-travel restore DB --bookmark=00000085-\S+ --env staging/);
    assert.match(output, /Deployed edge-auth-staging\./);
  });

  it('--check runs the offline pre-flight only: no wrangler call at all', async () => {
    const { code, output, calls } = await run(filledToml(), ['--env', 'production', '--check']);
    assert.equal(code, 0, output);
    assert.deepEqual(calls, []);
    assert.match(output, /the configuration is ready/);
  });

  it('stops before any network step while a placeholder is left', async () => {
    const { code, output, calls } = await run(COMMITTED_TOML, ['--env', 'production']);
    assert.equal(code, 1);
    assert.deepEqual(calls, []);
    assert.match(output, /not deploying: wrangler\.toml is not ready for production/);
    assert.match(output, /env\.production\.d1_databases\[DB\]\.database_id: still reads "REPLACE_WITH_PRODUCTION_D1_DATABASE_ID"/);
  });

  it('stops without migrating or deploying when KEY_ENCRYPTION_KEY is not set', async () => {
    const { code, output, calls } = await run(filledToml(), ['--env', 'production'], { secrets: [] });
    assert.equal(code, 1);
    assert.deepEqual(commands(calls), ['secret list']);
    assert.match(output, /missing secrets:\n  - KEY_ENCRYPTION_KEY: is not set on Worker edge-auth-production: openssl rand -base64 48 \| npx wrangler secret put KEY_ENCRYPTION_KEY --env production/);
  });

  it('says how to start when the Worker does not exist yet (secret list fails)', async () => {
    const { code, output, calls } = await run(filledToml(), ['--env', 'staging'], { fail: 'secret list' });
    assert.equal(code, 1);
    assert.deepEqual(commands(calls), ['secret list']);
    assert.match(output, /On a first deploy, set the secrets first/);
  });

  it('does not deploy when a migration fails', async () => {
    const { code, output, calls } = await run(filledToml(), ['--env', 'staging'], { fail: 'd1 migrations' });
    assert.equal(code, 1);
    assert.deepEqual(commands(calls), ['secret list', 'd1 time-travel info DB', 'd1 migrations apply DB']);
    assert.match(output, /nothing was deployed/);
  });

  it('fails when the deployed Worker reports misconfigured, with the rollback command', async () => {
    const { code, output } = await run(filledToml(), ['--env', 'production', '--health-url', healthUrl('misconfigured')]);
    assert.equal(code, 1);
    assert.match(output, /the deployed Worker refuses to serve: 500 .*KEY_ENCRYPTION_KEY/);
    assert.match(output, /npx wrangler rollback --env production/);
  });

  it('exits 2 when /health never answers 200 within the timeout', async () => {
    const { code, output } = await run(filledToml(), ['--env', 'staging', '--health-url', healthUrl('unrouted'), '--health-timeout', '1']);
    assert.equal(code, 2);
    assert.match(output, /deployed, but .* did not answer 200 within 1 s \(last: 404 not routed yet\)/);
  });

  it('refuses staging and production sharing a database', async () => {
    const toml = edit(filledToml(), '6f1c2a4e-1b2c-4d5e-8f90-123456789abc', 'a9e8d7c6-b5a4-4321-9fed-cba987654321');
    const { code, output, calls } = await run(toml, ['--env', 'staging']);
    assert.equal(code, 1);
    assert.deepEqual(calls, []);
    assert.match(output, /is also env\.production\.d1_databases\[DB\]\.database_id/);
  });
});
