#!/usr/bin/env tsx
// `npm run keys:rotate [-- --remote] [-- --env staging|production] [-- --persist-to DIR] [-- --config wrangler.toml]`
//
// Rotates the signing key of the configured JWT_ALG (or creates the first keys) in D1 through
// `wrangler d1 execute`, with the service's own code: the key is generated and sealed by
// src/tokens/key-material.ts (WebCrypto AES-GCM + HKDF, the same in Node as in workerd) and the SQL
// is src/db/signing-keys.ts's rotationStatements, the statements POST /admin/keys/rotate runs.
//
// KEY_ENCRYPTION_KEY must be the service's: read from .dev.vars locally (as `wrangler dev` does),
// from the environment with --remote (`KEY_ENCRYPTION_KEY=... npm run keys:rotate -- --remote`).
// Running isolates sign with the new key within CACHE_TTL_SECONDS; nothing secret is printed.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { unstable_readConfig } from 'wrangler';
import { ConfigError, parseConfig, type Env } from '../src/config';
import { rotationOutcome, rotationStatements, type SqlValue, type Statement } from '../src/db/signing-keys';
import { decryptSecret } from '../src/crypto/encrypt';
import { generateSealedKey } from '../src/tokens/key-material';
import { rotationOverlap, usesEnvSecret } from '../src/tokens/keys';

interface Options {
  remote: boolean;
  persistTo: string | undefined;
  config: string;
  database: string;
  /** A wrangler environment ([env.<name>] in wrangler.toml): its vars and its own D1 database. */
  env: string | undefined;
}

function fail(message: string): never {
  console.error(`keys:rotate: ${message}`);
  process.exit(1);
}

function parseArgs(argv: string[]): Options {
  const options: Options = { remote: false, persistTo: undefined, config: 'wrangler.toml', database: 'DB', env: undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => argv[++i] ?? fail(`${arg} needs a value`);
    if (arg === '--remote') options.remote = true;
    else if (arg === '--local') options.remote = false;
    else if (arg === '--persist-to') options.persistTo = value();
    else if (arg === '--config' || arg === '-c') options.config = value();
    else if (arg === '--database') options.database = value();
    else if (arg === '--env' || arg === '-e') options.env = value();
    else fail(`unknown option ${arg} (options: --remote, --local, --env ENV, --persist-to DIR, --config FILE, --database BINDING)`);
  }
  if (options.remote && options.persistTo) fail('--persist-to applies to the local database only');
  return options;
}

/** .dev.vars is dotenv-style: NAME=value, optionally quoted; # comments. */
function readDevVars(path: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split(/\r?\n/)) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match || line.trimStart().startsWith('#')) continue;
    vars[match[1]!] = match[2]!.replace(/^(['"])(.*)\1$/, '$2');
  }
  return vars;
}

/** Inlines parameters as SQL literals: `wrangler d1 execute` takes SQL text, not bindings. */
function inline(statement: Statement): string {
  let i = 0;
  const literal = (v: SqlValue) => (v === null ? 'NULL' : typeof v === 'number' ? String(Math.trunc(v)) : `'${v.replace(/'/g, "''")}'`);
  const sql = statement.sql.replace(/\?/g, () => literal(statement.params[i++] ?? null));
  if (i !== statement.params.length) throw new Error('parameter count mismatch');
  return sql.replace(/\s+/g, ' ').trim();
}

/** The audit_log row (src/db/audit.ts) for a CLI rotation: no actor, the kids as the detail. */
function auditStatement(alg: string, now: number, next: string): Statement {
  return {
    sql: `INSERT INTO audit_log (at, event, outcome, actor_id, detail) VALUES (?, 'key_rotate', 'success', NULL, json_object(
      'via', 'cli', 'alg', ?, 'next', ?,
      'active', (SELECT kid FROM signing_keys WHERE alg = ? AND status = 'active'),
      'retired', (SELECT kid FROM signing_keys WHERE alg = ? AND status = 'retired' AND retired_at = ? ORDER BY created_at DESC LIMIT 1)))`,
    params: [now, alg, next, alg, alg, now],
  };
}

/**
 * Runs SQL through `wrangler d1 execute --command` and returns its per-statement results. The
 * command line holds sealed (encrypted) keys only. (`--file` would keep even those off the command
 * line, but remotely it goes through D1's import API, which returns no per-statement results.)
 */
function executeSql(sql: string, options: ReturnType<typeof parseArgs>, configPath: string): { results?: Record<string, unknown>[] }[] {
  const args = ['d1', 'execute', options.database, options.remote ? '--remote' : '--local', '--json', '--config', configPath, '--command', sql];
  if (options.persistTo) args.push('--persist-to', options.persistTo);
  if (options.env) args.push('--env', options.env);
  const run = spawnSync('wrangler', args, { encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 120_000, maxBuffer: 10_000_000 });
  if (run.status !== 0) {
    // wrangler's own message (SQL errors name no secret; the SQL holds only sealed keys).
    const detail = (run.stderr || run.stdout || run.error?.message || '').split('\n').filter((l) => /error|✘/i.test(l)).slice(0, 5).join('\n');
    fail(`wrangler d1 execute failed${detail ? `:\n${detail}` : ''}`);
  }
  return JSON.parse(run.stdout.slice(run.stdout.indexOf('['))) as { results?: Record<string, unknown>[] }[];
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const configPath = resolve(options.config);
  if (!existsSync(configPath)) fail(`${options.config} not found`);
  const wrangler = unstable_readConfig({ config: configPath, env: options.env });

  let secrets: Record<string, string | undefined>;
  if (options.remote) {
    secrets = { KEY_ENCRYPTION_KEY: process.env.KEY_ENCRYPTION_KEY, JWT_SECRET: process.env.JWT_SECRET };
    if (!secrets.KEY_ENCRYPTION_KEY) fail('set KEY_ENCRYPTION_KEY in the environment to the production secret for --remote');
  } else {
    const devVars = join(dirname(configPath), '.dev.vars');
    if (!existsSync(devVars)) fail(`${devVars} not found: run \`npm run dev\` once (it creates it) or create it`);
    secrets = readDevVars(devVars);
  }

  let config;
  try {
    config = parseConfig({ ...(wrangler.vars as Record<string, string>), ...secrets } as unknown as Env);
  } catch (err) {
    fail(err instanceof ConfigError ? err.message : String(err));
  }
  if (usesEnvSecret(config)) {
    fail('JWT_ALG is HS256 and JWT_SECRET is set: that secret is the key; rotate it with `wrangler secret put JWT_SECRET` (docs/keys.md)');
  }

  const d1 = (sql: string) => executeSql(sql, options, configPath);

  // A mistyped KEY_ENCRYPTION_KEY would seal the new keys so that the service cannot open them:
  // prove the given key opens an existing one before writing anything.
  const existing = d1(inline({ sql: "SELECT kid, private_enc FROM signing_keys WHERE alg = ? AND status IN ('active', 'next') LIMIT 1", params: [config.alg] }));
  const row = existing[0]?.results?.[0] as { kid: string; private_enc: string } | undefined;
  if (row) {
    try {
      await decryptSecret(config.keyEncryptionKey, row.private_enc, row.kid);
    } catch {
      fail(`KEY_ENCRYPTION_KEY does not decrypt the existing key ${row.kid}: it is not the secret the service uses`);
    }
  }

  const now = Math.floor(Date.now() / 1000);
  const overlap = rotationOverlap(config);
  const [fresh, fallback] = await Promise.all([
    generateSealedKey(config.alg, config.keyEncryptionKey),
    generateSealedKey(config.alg, config.keyEncryptionKey),
  ]);
  const rotation = rotationStatements(fresh, fallback, now, overlap);
  const sql = [...rotation, auditStatement(config.alg, now, fresh.kid)].map(inline).join(';\n') + ';';

  const results = d1(sql) as { results?: { kid: string; status?: string }[] }[];
  const outcome = rotationOutcome(results.slice(0, rotation.length).map((r) => r.results ?? []));
  if (!outcome.active || !outcome.next) fail('the database has no active or next key after the rotation');

  const where = options.remote ? 'remote' : `local${options.persistTo ? ` (${options.persistTo})` : ''}`;
  console.log(`keys:rotate: ${config.alg} on the ${where} database`);
  console.log(`  active  ${outcome.active}`);
  console.log(`  next    ${outcome.next}   (published in the JWKS, signs after the next rotation)`);
  if (outcome.retired) {
    console.log(`  retired ${outcome.retired}   (verifies until ${new Date((now + overlap) * 1000).toISOString()})`);
  } else {
    console.log('  (no key was active: these are the first keys)');
  }
  console.log(`Running isolates switch to the new key within seconds; tokens of the retired key stay valid until they expire.`);
}

await main();
