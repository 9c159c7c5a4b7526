#!/usr/bin/env node
// Size of the built Worker (`node scripts/bundle-size.mjs [dist]`): every .js and .wasm module,
// raw and gzipped, as Cloudflare counts it against the Worker size limit (compressed size).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

const MODULE = /\.(m?js|wasm)$/;

function modules(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return modules(path);
    return MODULE.test(name) ? [path] : [];
  });
}

const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

/** Prints one line per module and the total; returns the totals in bytes. */
export function printBundleSize(dir = 'dist') {
  const rows = modules(dir).map((path) => {
    const bytes = readFileSync(path);
    return { name: relative(dir, path), raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  });
  if (rows.length === 0) throw new Error(`no .js or .wasm modules in ${dir}/`);
  rows.sort((a, b) => b.gzip - a.gzip);
  const total = rows.reduce((t, r) => ({ raw: t.raw + r.raw, gzip: t.gzip + r.gzip }), { raw: 0, gzip: 0 });
  const width = Math.max(...rows.map((r) => r.name.length), 5);
  console.log(`\nbundle size (${dir}/):`);
  for (const r of rows) console.log(`  ${r.name.padEnd(width)}  ${kib(r.raw).padStart(12)}  gzip ${kib(r.gzip).padStart(10)}`);
  console.log(`  ${'total'.padEnd(width)}  ${kib(total.raw).padStart(12)}  gzip ${kib(total.gzip).padStart(10)}`);
  return total;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) printBundleSize(process.argv[2]);
