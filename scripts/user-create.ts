// `npm run user:create -- --username NAME --password PASS [--role admin]... [--email ADDR]
//                        [--remote | --local] [--persist-to DIR] [--config wrangler.toml] [--env ENV]`
//
// Creates a user, or updates an existing one (new password; roles/email when given; enabled and
// unlocked; sessions ended), directly in D1 through `wrangler d1 execute`: the way to the first
// administrator, and back in when every administrator is lost. There is no default account or
// password anywhere. Hashing is the Worker's own code (src/crypto/password-hasher.ts).
//
// wrangler never sees the password: it gets only SQL in a private temporary file (which holds the
// hash). With --password, though, the password is on the command line of npm, sh and tsx, and npm
// echoes it (`> tsx scripts/user-create.ts ... --password ...`) into the terminal or CI log: use
// --password-stdin anywhere but a throwaway local database.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type * as z from 'zod/mini';
import { email as emailSchema, MAX_ROLES_PER_USER, password as passwordSchema, ROLE_PATTERN, username as usernameSchema } from '../src/lib/validation';
import { nodePasswordHasher } from './lib/node-password';
import { apiKeyEntries, existingSql, insertUserSql, liveKeysSql, reconcileKeyCopies, resultSql, revocationEntries, updateUserSql, type LiveKeyRow } from './lib/user-sql';

const USAGE = `Usage: npm run user:create -- --username NAME (--password PASS | --password-stdin)
         [--role ROLE]... [--email ADDR] [--update-existing]
         [--local | --remote] [--persist-to DIR] [--config FILE] [--env ENV]

Creates the user. A name that exists already is refused, unless --update-existing: then that
account gets the new password, the roles and email when given, is enabled and unlocked, and its
sessions are ended. A look-alike of an existing name is always refused. --local (the default)
writes to the database of \`npm run dev\` (.wrangler/state, or --persist-to DIR); --remote to the
deployed one.`;

class UsageError extends Error {}
/** A refusal that is not a usage mistake (exit 1): nothing was written. */
class RefusedError extends Error {}

interface Options {
  username: { username: string; key: string; skeleton: string };
  updateExisting: boolean;
  password: string;
  roles: string[] | undefined;
  email: string | undefined;
  target: string[]; // wrangler flags choosing the database
}

function check<T>(schema: z.ZodMiniType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new UsageError(`${what}: ${result.error.issues[0]?.message ?? 'invalid'}`);
  return result.data;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, ''); // one trailing newline is the terminal's
}

const OPTIONS = {
  username: { type: 'string' },
  password: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  role: { type: 'string', multiple: true },
  email: { type: 'string' },
  'update-existing': { type: 'boolean' },
  local: { type: 'boolean' },
  remote: { type: 'boolean' },
  'persist-to': { type: 'string' },
  config: { type: 'string', short: 'c' },
  env: { type: 'string', short: 'e' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, strict: true, options: OPTIONS });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : 'bad arguments');
  }
}

async function parseOptions(argv: string[]): Promise<Options> {
  const { values } = parse(argv);
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (values.username === undefined) throw new UsageError('--username is required');
  if ((values.password === undefined) === !values['password-stdin']) throw new UsageError('give exactly one of --password and --password-stdin');
  if (values.local && values.remote) throw new UsageError('give at most one of --local and --remote');
  if (values.remote && values['persist-to']) throw new UsageError('--persist-to is for the local database only');

  const password = values.password ?? (await readStdin());
  const roles = values.role?.flatMap((r) => r.split(',')).map((r) => r.trim()).filter(Boolean);
  for (const role of roles ?? []) {
    if (!ROLE_PATTERN.test(role)) throw new UsageError(`--role "${role.slice(0, 40)}": role names are 1 to 32 characters: a-z first, then a-z, 0-9, "_", ":" or "-"`);
  }
  const unique = roles ? [...new Set(roles)] : undefined;
  if (unique && unique.length > MAX_ROLES_PER_USER) throw new UsageError(`at most ${MAX_ROLES_PER_USER} roles`);

  const target = [values.remote ? '--remote' : '--local'];
  if (values['persist-to']) target.push('--persist-to', values['persist-to']);
  if (values.config) target.push('--config', values.config);
  if (values.env) target.push('--env', values.env);
  return {
    username: check(usernameSchema, values.username, '--username'),
    updateExisting: values['update-existing'] === true,
    password: check(passwordSchema, password, 'password'),
    roles: unique,
    email: values.email === undefined ? undefined : check(emailSchema, values.email, '--email'),
    target,
  };
}

/** Runs wrangler (from node_modules/.bin, on PATH inside npm scripts); never prompts. */
function wrangler(args: string[]): string {
  const run = spawnSync('wrangler', args, { encoding: 'utf8', env: { ...process.env, CI: 'true' }, maxBuffer: 16 * 1024 * 1024 });
  if (run.status !== 0) {
    process.stderr.write(run.stderr ?? '');
    process.stderr.write(run.stdout ?? '');
    throw new Error(`wrangler ${args.slice(0, 3).join(' ')} failed (exit ${run.status ?? run.signal})`);
  }
  return run.stdout;
}

type D1Results = { results: Record<string, unknown>[] }[];

function parseResults(stdout: string): D1Results {
  const start = stdout.indexOf('[');
  if (start < 0) throw new Error('wrangler printed no JSON result');
  return JSON.parse(stdout.slice(start)) as D1Results;
}

interface ExistingUser {
  id: string;
  username: string;
  username_key: string;
  roles: string;
}

/** What the name collides with; refuses look-alikes always, the name itself without the flag. */
function decide(o: Options, existing: ExistingUser[]): 'create' | 'update' {
  const lookAlike = existing.find((u) => u.username_key !== o.username.key);
  if (lookAlike) throw new RefusedError(`"${o.username.username}" is a look-alike of the existing user "${lookAlike.username}"; choose another name`);
  if (existing.length === 0) return 'create';
  if (!o.updateExisting) {
    throw new RefusedError(
      `a user named "${existing[0]!.username}" exists already; nothing was changed. To take that account over (new password, ` +
        'roles when given, sessions ended), run again with --update-existing',
    );
  }
  return 'update';
}

async function main(): Promise<void> {
  const o = await parseOptions(process.argv.slice(2));
  const now = Math.floor(Date.now() / 1000);
  const where = o.target[0] === '--remote' ? 'the deployed database' : 'the local database';

  const dir = mkdtempSync(join(tmpdir(), 'edge-auth-user-'));
  try {
    if (o.target[0] === '--local') {
      // The local database may be new: bring its schema up to date first (as `npm run dev` does).
      wrangler(['d1', 'migrations', 'apply', 'DB', ...o.target]);
    }
    const [found] = parseResults(wrangler(['d1', 'execute', 'DB', ...o.target, '--json', '--command', existingSql(o.username.key, o.username.skeleton)]));
    const existing = (found?.results ?? []) as unknown as ExistingUser[];
    const action = decide(o, existing);

    const passwordHash = await nodePasswordHasher.hashPassword(o.password);
    const id = randomUUID();
    const write = { id, username: o.username.username, usernameKey: o.username.key, usernameSkeleton: o.username.skeleton, passwordHash, roles: o.roles, email: o.email, now };
    const sqlFile = join(dir, 'user.sql');
    writeFileSync(sqlFile, action === 'create' ? insertUserSql(write) : updateUserSql(write), { mode: 0o600 });
    wrangler(['d1', 'execute', 'DB', ...o.target, '--yes', '--file', sqlFile]);

    const [users, ended, liveKeys] = parseResults(wrangler(['d1', 'execute', 'DB', ...o.target, '--json', '--command', resultSql(o.username.key, now)]));
    const user = users?.results[0] as { id: string; username: string; roles: string } | undefined;
    if (!user) throw new Error('the user was not found after writing it');
    if (action === 'create' && user.id !== id) throw new RefusedError(`"${user.username}" was created by someone else meanwhile; nothing was changed`);
    const sessions = (ended?.results ?? []) as { id: string; last_used_at: number }[];

    // Access tokens of the ended sessions go on the revocation list, as the Worker would do. D1
    // first, KV second, as in the Worker: the fresh check of the admin API reads the session row in
    // D1, so no old token is served as an administrator while these entries propagate.
    // With them, the KV copies of the user's API keys, rewritten from D1 as the Worker does when
    // an owner changes: a demotion here reaches the keys too (a new user has none).
    const keys = (liveKeys?.results ?? []) as unknown as LiveKeyRow[];
    const keyCopies = apiKeyEntries(keys, now);
    const putKv = (name: string, entries: unknown[]) => {
      const file = join(dir, name);
      writeFileSync(file, JSON.stringify(entries), { mode: 0o600 });
      wrangler(['kv', 'bulk', 'put', file, '--binding', 'KV', ...o.target]);
    };
    const entries = [...revocationEntries(sessions, now), ...keyCopies];
    if (entries.length > 0) putKv('kv-entries.json', entries);
    let withdrawn = 0;
    if (keyCopies.length > 0) {
      // A key revoked (or a role changed) through the API between our read and our write had its
      // copy deleted or rewritten by the Worker, which our write undid: read D1 again and redo it.
      const [again] = parseResults(wrangler(['d1', 'execute', 'DB', ...o.target, '--json', '--command', liveKeysSql(o.username.key, now)]));
      const { put, remove } = reconcileKeyCopies(keyCopies, apiKeyEntries((again?.results ?? []) as unknown as LiveKeyRow[], now));
      if (put.length > 0) putKv('kv-reconcile.json', put);
      if (remove.length > 0) {
        const file = join(dir, 'kv-remove.json');
        writeFileSync(file, JSON.stringify(remove), { mode: 0o600 });
        wrangler(['kv', 'bulk', 'delete', file, '--binding', 'KV', '--force', ...o.target]);
      }
      withdrawn = remove.length;
    }
    if (action === 'create') {
      console.log(`edge-auth: created user "${user.username}" (${user.id}) in ${where} with roles ${user.roles}`);
    } else {
      const before = existing[0]!;
      console.log(
        `edge-auth: updated existing user "${user.username}" (${user.id}) in ${where}: password reset, roles ${before.roles} -> ${user.roles}, ` +
          `account enabled and unlocked, ${sessions.length} session(s) ended, ${keys.length - withdrawn} API key(s) re-synced to those roles (keys of a disabled account are live again, as when an administrator enables it)`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) {
    console.error(`edge-auth user:create: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (err instanceof RefusedError) {
    console.error(`edge-auth user:create: refused: ${err.message}`);
    process.exit(1);
  }
  console.error(`edge-auth user:create: ${err instanceof Error ? err.message : 'failed'}`);
  process.exit(1);
});
