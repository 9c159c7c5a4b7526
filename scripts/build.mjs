#!/usr/bin/env node
// `npm run build`: the production bundle, built the way `wrangler deploy` builds it, without
// uploading. Fails when the Worker does not bundle (a wasm import, a Node built-in without
// nodejs_compat, a missing module). Then each deploy environment is dry-run too, so a broken
// [env.*] section fails CI rather than a deploy. Type errors are `npm run typecheck`'s job
// (esbuild strips types without checking them). Fails too when the bundle is over the budget in
// bench/budget.json.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { printBundleSize } from './bundle-size.mjs';

const OUTDIR = 'dist';
const ENVIRONMENTS = ['staging', 'production'];

function dryRun(args, label) {
  const started = Date.now();
  const result = spawnSync('wrangler', ['deploy', '--dry-run', ...args], {
    encoding: 'utf8',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  });
  if (result.error || result.status !== 0) {
    process.stdout.write(result.stdout ?? '');
    process.stderr.write(result.stderr ?? '');
    console.error(`\nbuild: ${label} does not build${result.error ? ` (${result.error.message})` : ''}`);
    process.exit(1);
  }
  console.log(`build: ${label} ok (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

rmSync(OUTDIR, { recursive: true, force: true }); // no stale modules in the size report
dryRun(['--outdir', OUTDIR], `bundle -> ${OUTDIR}/`);
const scratch = mkdtempSync(join(tmpdir(), 'edge-auth-build-'));
try {
  for (const env of ENVIRONMENTS) dryRun(['--env', env, '--outdir', join(scratch, env)], `--env ${env}`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
const total = printBundleSize(OUTDIR);
// The same budget the bench enforces, so CI fails on a bundle that grew past it.
const budget = JSON.parse(readFileSync(new URL('../bench/budget.json', import.meta.url), 'utf8'));
if (total.gzip > budget.gzipKiB * 1024) {
  console.error(`\nbuild: the Worker is ${(total.gzip / 1024).toFixed(1)} KiB gzip, over the ${budget.gzipKiB} KiB budget in bench/budget.json`);
  process.exit(1);
}
console.log(`  budget ${budget.gzipKiB} KiB gzip (bench/budget.json): within`);
