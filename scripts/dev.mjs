#!/usr/bin/env node
// `npm run dev [-- --origin] [-- wrangler dev options]`: the one command that starts edge-auth locally.
// 1. creates .dev.vars with random secrets if it is absent (never overwrites it), and copies the
//    static assets taken from npm and client/ into public/ (scripts/assets.mjs);
// 2. applies the D1 migrations to the local database (same --persist-to as the server);
// 3. with --origin (ours, not passed to wrangler), starts the example origin (examples/origin) on
//    127.0.0.1:8789, where the development gateway table (wrangler.toml GATEWAY_ROUTES) sends
//    /app-api/*; without it those routes answer 502 bad_gateway;
// 4. runs `wrangler dev` (127.0.0.1:8787 by default) with every other option passed through.
import { spawnSync, spawn } from 'node:child_process';
import { prepareAssets } from './assets.mjs';
import { ensureDevVars } from './dev-vars.mjs';

const ORIGIN_PORT = 8789; // the upstream of the development table in wrangler.toml

const given = process.argv.slice(2);
const withOrigin = given.includes('--origin');
const args = given.filter((a) => a !== '--origin');
ensureDevVars();
prepareAssets(); // Swagger UI and the client package into public/ (scripts/assets.mjs)

/** The value of a wrangler option given as `--name value` or `--name=value`. */
function option(name) {
  const at = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (at < 0) return undefined;
  return args[at].includes('=') ? args[at].slice(name.length + 1) : args[at + 1];
}

/** A `--var NAME:VALUE` override. */
function devVar(name) {
  for (let i = 0; i < args.length - 1; i++) {
    if (args[i] === '--var' && args[i + 1].startsWith(`${name}:`)) return args[i + 1].slice(name.length + 1);
  }
  return undefined;
}

const persist = option('--persist-to') ? ['--persist-to', option('--persist-to')] : [];
const migrate = spawnSync('wrangler', ['d1', 'migrations', 'apply', 'DB', '--local', ...persist], {
  stdio: 'inherit',
  env: { ...process.env, CI: 'true' }, // never prompt
});
if (migrate.status !== 0) {
  console.error('edge-auth: applying local D1 migrations failed');
  process.exit(migrate.status ?? 1);
}

let origin;
if (withOrigin) {
  const { startOrigin } = await import('../examples/origin/server.mjs');
  const edgeAuth = `http://${option('--ip') ?? '127.0.0.1'}:${option('--port') ?? '8787'}`;
  // The assertion's issuer is edge-auth's JWT_ISSUER (wrangler.toml's unless overridden here).
  origin = await startOrigin({ port: ORIGIN_PORT, edgeAuth, issuer: devVar('JWT_ISSUER') ?? 'http://localhost:8787' });
  console.log(`edge-auth: example origin on ${origin.url} (behind /app-api/*), checking assertions against ${edgeAuth}`);
}

const dev = spawn('wrangler', ['dev', ...args], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => dev.kill(signal));
dev.on('exit', async (code, signal) => {
  await origin?.close();
  process.exit(code ?? (signal ? 1 : 0));
});
