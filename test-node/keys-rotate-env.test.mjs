// `npm run keys:rotate -- --env <name>` works on that environment's own database with its vars
// (docs/deploy.md, Key rotation). Locally, on a filled copy of wrangler.toml: the staging
// database gets the keys, the development database is untouched.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { delimiter, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { COMMITTED_TOML, filledToml, ROOT, writeProject } from './fixtures.mjs';

const env = { ...process.env, CI: 'true', PATH: [join(ROOT, 'node_modules', '.bin'), process.env.PATH].join(delimiter) };

function run(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: 120_000 });
  return { ...result, output: `${result.stdout}${result.stderr}` };
}

function count(dir, state, envArgs) {
  const r = run('wrangler', ['d1', 'execute', 'DB', '--local', ...envArgs, '--persist-to', state, '--json', '--command', 'SELECT count(*) AS n FROM signing_keys'], dir);
  if (r.status !== 0) return { error: r.output };
  return { n: JSON.parse(r.stdout.slice(r.stdout.indexOf('[')))[0].results[0].n };
}

describe('keys:rotate --env', { timeout: 240_000 }, () => {
  const dir = writeProject(filledToml());
  const state = join(dir, 'state');
  cpSync(join(ROOT, 'migrations'), join(dir, 'migrations'), { recursive: true });
  writeFileSync(join(dir, '.dev.vars'), `KEY_ENCRYPTION_KEY=${randomBytes(48).toString('base64url')}\n`, { mode: 0o600 });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("rotates in the environment's database, with the environment's vars", () => {
    for (const envArgs of [[], ['--env', 'staging']]) {
      const migrated = run('wrangler', ['d1', 'migrations', 'apply', 'DB', '--local', ...envArgs, '--persist-to', state], dir);
      assert.equal(migrated.status, 0, migrated.output);
    }
    const rotated = run('npm', ['run', '--prefix', ROOT, 'keys:rotate', '--', '--env', 'staging', '--config', join(dir, 'wrangler.toml'), '--persist-to', state], dir);
    assert.equal(rotated.status, 0, rotated.output);
    assert.match(rotated.output, /keys:rotate: ES256 on the local/);
    assert.deepEqual(count(dir, state, ['--env', 'staging']), { n: 2 }, 'active and next key in the staging database');
    assert.deepEqual(count(dir, state, []), { n: 0 }, 'the development database is untouched');
  });

  it('refuses a KEY_ENCRYPTION_KEY that does not open the existing keys, and writes nothing', () => {
    const original = readFileSync(join(dir, '.dev.vars'), 'utf8');
    writeFileSync(join(dir, '.dev.vars'), `KEY_ENCRYPTION_KEY=${randomBytes(48).toString('base64url')}\n`, { mode: 0o600 });
    try {
      const before = count(dir, state, ['--env', 'staging']);
      const rotated = run('npm', ['run', '--prefix', ROOT, 'keys:rotate', '--', '--env', 'staging', '--config', join(dir, 'wrangler.toml'), '--persist-to', state], dir);
      assert.equal(rotated.status, 1, rotated.output);
      assert.match(rotated.output, /KEY_ENCRYPTION_KEY does not decrypt the existing key/);
      assert.deepEqual(count(dir, state, ['--env', 'staging']), before, 'no key was written');
    } finally {
      writeFileSync(join(dir, '.dev.vars'), original, { mode: 0o600 });
    }
  });

  it('refuses an environment whose vars the Worker would refuse (placeholders left)', () => {
    const unfilled = writeProject(COMMITTED_TOML);
    writeFileSync(join(unfilled, '.dev.vars'), `KEY_ENCRYPTION_KEY=${randomBytes(48).toString('base64url')}\n`, { mode: 0o600 });
    const rotated = run('npm', ['run', '--prefix', ROOT, 'keys:rotate', '--', '--env', 'production', '--config', join(unfilled, 'wrangler.toml'), '--persist-to', state], unfilled);
    rmSync(unfilled, { recursive: true, force: true });
    assert.equal(rotated.status, 1, rotated.output);
    assert.match(rotated.output, /keys:rotate: JWT_ISSUER: still holds a REPLACE_WITH_\.\.\. placeholder/);
  });
});
