#!/usr/bin/env node
// `npm run deploy -- --env staging|production [--check] [--health-url URL] [--no-health-check]`
//
// 1. offline pre-flight (scripts/preflight.mjs): placeholders, resource ids, bindings, isolation
//    between environments, and the Worker's own configuration rules on this environment's vars;
//    --check stops here (no network, no account needed);
// 2. the Worker's secrets, by name (`wrangler secret list`): a missing KEY_ENCRYPTION_KEY stops it;
// 3. a D1 Time Travel bookmark is printed: the restore point from before this deploy's migrations;
// 4. pending D1 migrations are applied to the remote database, then `wrangler deploy`;
// 5. GET <JWT_ISSUER>/health must answer 200: a misconfigured Worker answers 500 and fails the deploy.
// Every step that fails stops the ones after it, so a broken Worker is never put in front of users.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { unstable_readConfig } from 'wrangler';
import { prepareAssets } from './assets.mjs';
import { checkConfig, checkSecrets, DEPLOY_ENVIRONMENTS, formatProblems, parseSecretList } from './preflight.mjs';

const HEALTH_TIMEOUT_SECONDS = 120; // a new custom domain may take a minute or two to get its certificate
const HEALTH_RETRY_SECONDS = 5;

function fail(message, code = 1) {
  console.error(`\nedge-auth deploy: ${message}`);
  process.exit(code);
}

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      env: { type: 'string', short: 'e' },
      check: { type: 'boolean', default: false },
      'health-url': { type: 'string' },
      'no-health-check': { type: 'boolean', default: false },
      'health-timeout': { type: 'string', default: String(HEALTH_TIMEOUT_SECONDS) },
    },
  }));
} catch (err) {
  fail(`${err.message}\nusage: npm run deploy -- --env staging|production [--check] [--health-url URL] [--health-timeout S] [--no-health-check]`);
}
const envName = opts.env;

function step(title) {
  console.log(`\n== ${title}`);
}

function wrangler(args, { capture = false } = {}) {
  const result = spawnSync('wrangler', [...args, '--env', envName], {
    stdio: capture ? ['inherit', 'pipe', 'pipe'] : 'inherit',
    encoding: 'utf8',
  });
  if (result.error) fail(`could not run wrangler (${result.error.message}); run this as \`npm run deploy\``);
  return result;
}

function readConfig(env) {
  return unstable_readConfig({ config: 'wrangler.toml', env }, { hideWarnings: true });
}

// 1. Offline pre-flight.
step(`pre-flight (offline): wrangler.toml, --env ${envName ?? '(none)'}`);
let config;
let topLevel;
const others = {};
try {
  topLevel = readConfig(undefined);
  if (DEPLOY_ENVIRONMENTS.includes(envName)) {
    config = readConfig(envName);
    for (const other of DEPLOY_ENVIRONMENTS.filter((e) => e !== envName)) {
      try {
        others[other] = readConfig(other);
      } catch {
        // an environment not in the file shares nothing
      }
    }
  }
} catch (err) {
  fail(`wrangler.toml: ${err.message}`);
}
const offline = checkConfig({ envName, config, topLevel, others });
for (const warning of offline.warnings) console.warn(`  warning: ${warning}`);
if (offline.problems.length > 0) {
  fail(`not deploying: wrangler.toml is not ready for ${envName ?? 'a deploy'}:\n${formatProblems(offline.problems)}`);
}
console.log(`  ok: Worker ${config.name}, D1 ${config.d1_databases.map((d) => d.database_name).join(', ')}, issuer ${config.vars.JWT_ISSUER}`);
if (opts.check) {
  console.log('\n--check: the configuration is ready; secrets, migrations and the upload need `npm run deploy` without --check.');
  process.exit(0);
}

// 2. Secrets, by name.
step(`secrets of Worker ${config.name}`);
const listed = wrangler(['secret', 'list', '--format', 'json'], { capture: true });
if (listed.status !== 0) {
  process.stderr.write(`${listed.stdout ?? ''}${listed.stderr ?? ''}`);
  fail(
    `could not list the secrets of ${config.name}. Logged in? (npx wrangler login) ` +
      `On a first deploy, set the secrets first (this creates the Worker): ` +
      `openssl rand -base64 48 | npx wrangler secret put KEY_ENCRYPTION_KEY --env ${envName}`,
  );
}
let secretNames;
try {
  secretNames = parseSecretList(listed.stdout);
} catch (err) {
  fail(`${err.message}:\n${listed.stdout}`);
}
const secrets = checkSecrets({ envName, config, secretNames });
for (const warning of secrets.warnings) console.warn(`  warning: ${warning}`);
if (secrets.problems.length > 0) fail(`not deploying: missing secrets:\n${formatProblems(secrets.problems)}`);
console.log(`  ok: ${secretNames.join(', ')}`);

// 3. Restore point (best effort: Time Travel keeps 30 days either way).
step('D1 restore point (Time Travel)');
const bookmark = wrangler(['d1', 'time-travel', 'info', 'DB', '--json'], { capture: true });
if (bookmark.status === 0) {
  const match = /"bookmark"\s*:\s*"([^"]+)"/.exec(bookmark.stdout);
  if (match) console.log(`  to undo the migrations below: npx wrangler d1 time-travel restore DB --bookmark=${match[1]} --env ${envName}`);
  else console.log(bookmark.stdout.trim());
} else {
  console.warn(`  warning: no bookmark (${(bookmark.stderr || '').trim().split('\n')[0]}); restore by --timestamp if needed`);
}

// 4. Migrations, then the upload. Migrations run first: they must be additive (docs/deploy.md),
// because the version still serving runs against the migrated schema until the upload finishes.
step('D1 migrations (remote)');
if (wrangler(['d1', 'migrations', 'apply', 'DB', '--remote']).status !== 0) {
  fail('applying the D1 migrations failed; nothing was deployed (a failed migration is rolled back by D1)');
}
step(`wrangler deploy --env ${envName}`);
prepareAssets(); // the reference page's Swagger UI and the client package, from npm and client/
if (wrangler(['deploy']).status !== 0) fail('wrangler deploy failed; the previous version keeps serving');

// 5. Health: the deployed Worker judges its own configuration, secrets included.
if (opts['no-health-check']) {
  console.log('\n--no-health-check: done without checking /health');
  process.exit(0);
}
const healthUrl = opts['health-url'] ?? new URL('health', config.vars.JWT_ISSUER.replace(/\/?$/, '/')).toString();
step(`health: GET ${healthUrl}`);
const deadline = Date.now() + Number(opts['health-timeout']) * 1000;
let last = 'no answer';
for (;;) {
  try {
    const res = await fetch(healthUrl, { signal: AbortSignal.timeout(10_000) });
    const body = await res.text();
    if (res.status === 200) {
      console.log(`  ok: ${body.trim()}\n\nDeployed ${config.name}.`);
      process.exit(0);
    }
    last = `${res.status} ${body.slice(0, 500).trim()}`;
    if (res.status === 500 && body.includes('"misconfigured"')) {
      fail(
        `the deployed Worker refuses to serve: ${last}\n` +
          `Fix the setting (a secret: npx wrangler secret put NAME --env ${envName}), ` +
          `or go back to the previous version: npx wrangler rollback --env ${envName}`,
      );
    }
  } catch (err) {
    last = err.cause?.code ?? err.message;
  }
  const left = deadline - Date.now();
  if (left <= 0) break;
  await new Promise((resolve) => setTimeout(resolve, Math.min(left, HEALTH_RETRY_SECONDS * 1000)));
}
fail(
  `deployed, but ${healthUrl} did not answer 200 within ${opts['health-timeout']} s (last: ${last}). ` +
    `A new custom domain can take a few minutes; check it with curl, and the logs with npx wrangler tail --env ${envName}`,
  2,
);
