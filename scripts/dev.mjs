#!/usr/bin/env node
// `npm run dev [-- wrangler dev options]`: the one command that starts edge-auth locally.
// 1. creates .dev.vars with random secrets if it is absent (never overwrites it);
// 2. applies the D1 migrations to the local database (same --persist-to as the server);
// 3. runs `wrangler dev` (127.0.0.1:8787 by default) with every extra option passed through.
import { spawnSync, spawn } from 'node:child_process';
import { ensureDevVars } from './dev-vars.mjs';

const args = process.argv.slice(2);
ensureDevVars();

const persistAt = args.indexOf('--persist-to');
const persist = persistAt >= 0 && args[persistAt + 1] ? ['--persist-to', args[persistAt + 1]] : [];
const migrate = spawnSync('wrangler', ['d1', 'migrations', 'apply', 'DB', '--local', ...persist], {
  stdio: 'inherit',
  env: { ...process.env, CI: 'true' }, // never prompt
});
if (migrate.status !== 0) {
  console.error('edge-auth: applying local D1 migrations failed');
  process.exit(migrate.status ?? 1);
}

const dev = spawn('wrangler', ['dev', ...args], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => dev.kill(signal));
dev.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
