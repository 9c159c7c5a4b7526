#!/usr/bin/env node
// How many logins and refreshes one local D1 database takes per second, counting only the D1
// statements they write (docs/scaling.md "Where one primary saturates"). The statements are the
// service's own (bench/d1-writes/index.ts imports src/db), run in a loop inside workerd against
// the same SQLite-backed D1 simulator `wrangler dev` uses. A lower bound for the write path's
// cost per statement: production adds the network between the Worker and the primary.
//
//   node bench/d1-writes.mjs [--n 400]
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWorker } from './lib/build.mjs';
import { applyMigrations, startWorker } from './lib/workers.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const n = Number(process.argv[process.argv.indexOf('--n') + 1] || 400);

const build = await buildWorker({ name: 'bench-d1-writes', config: 'bench/d1-writes/wrangler.toml', outdir: 'bench/out/d1-writes', root: ROOT });
const worker = await startWorker({ build, compat: { date: '2026-11-01', flags: ['nodejs_compat'] }, d1: ['DB'] });
try {
  await applyMigrations(worker, 'DB', join(ROOT, 'migrations'));
  const get = async (path) => {
    const res = await fetch(`${worker.url}${path}`, { signal: AbortSignal.timeout(300_000) });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  await get('/seed?users=16');
  await get('/run?op=login&n=50&c=1'); // warm-up
  await get('/run?op=refresh&n=50&c=1');
  const rows = [];
  for (const op of ['login', 'refresh']) {
    for (const c of [1, 8]) {
      const r = await get(`/run?op=${op}&n=${n}&c=${c}`);
      rows.push(r);
      console.log(`${op.padEnd(8)} lanes=${c}  ${r.opsPerSecond.toFixed(0).padStart(6)} ops/s  ${r.roundTripsPerSecond.toFixed(0).padStart(6)} D1 round trips/s  (${r.n} in ${r.ms.toFixed(0)} ms)`);
    }
  }
  console.log(JSON.stringify(rows));
} finally {
  await worker.mf.dispose();
}
