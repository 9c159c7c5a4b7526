// Building Workers exactly as a deploy would: `wrangler deploy --dry-run --outdir <dir>`.
// The bench then runs that output, not the sources, so what we measure (and weigh) is what
// Cloudflare would receive.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const require = createRequire(import.meta.url);

/** Module types Miniflare needs for each file wrangler emits (it cannot guess wasm from bytes). */
const MODULE_TYPES = {
  '.js': 'ESModule',
  '.mjs': 'ESModule',
  '.cjs': 'CommonJS',
  '.wasm': 'CompiledWasm',
  '.txt': 'Text',
  '.html': 'Text',
  '.sql': 'Text',
  '.bin': 'Data',
};

/**
 * Run a command with a hard time limit; resolves with its combined output, rejects on a non-zero
 * exit or on the time limit (so a hung build can never stall `npm run bench`).
 */
export function run(cmd, args, { cwd, env, timeoutMs = 120_000 } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: killed after ${timeoutMs / 1000} s\n${out}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}\n${out}`));
    });
  });
}

function listFiles(dir) {
  const files = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...listFiles(path));
    else files.push(path);
  }
  return files;
}

/**
 * `wrangler deploy --dry-run --outdir <outdir> -c <config>`, then describe the output: the
 * module list Miniflare needs, and the upload size computed the way wrangler computes it
 * (gzip of all modules concatenated, main module first), which is what counts against
 * Cloudflare's Worker size limit.
 */
export async function buildWorker({ name, config, outdir, root, composition = false }) {
  // Absolute outdir: wrangler resolves a relative --outdir against the config file's folder for
  // the bundle but against the cwd for its README, so a relative path splits the output.
  const out = resolve(root, outdir);
  rmSync(out, { recursive: true, force: true });
  const wranglerPkg = require.resolve('wrangler/package.json', { paths: [root] });
  const wranglerBin = join(dirname(wranglerPkg), JSON.parse(readFileSync(wranglerPkg, 'utf8')).bin.wrangler);
  const started = performance.now();
  // esbuild's metafile (kept beside, not inside, the outdir) tells what the bundle is made of.
  const metafile = `${out}.meta.json`;
  const log = await run(process.execPath, [wranglerBin, 'deploy', '--dry-run', '--outdir', out, '-c', resolve(root, config), ...(composition ? ['--metafile', metafile] : [])], {
    cwd: root,
    // No telemetry: this machine may only talk to 127.0.0.1 and the package registry.
    env: { WRANGLER_SEND_METRICS: 'false', CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  const buildMs = performance.now() - started;

  const files = listFiles(out).filter((f) => !f.endsWith('.map') && !f.endsWith('README.md'));
  const modules = [];
  for (const path of files) {
    const type = MODULE_TYPES[extname(path)];
    if (!type) throw new Error(`${name}: wrangler emitted ${relative(out, path)}, a file type this bench cannot load`);
    modules.push({ type, path, bytes: statSync(path).size });
  }
  // The entry module (named after `main`: index.js for ours) goes first: Miniflare runs the first
  // module, and wrangler lists it first when it measures the upload.
  const topLevelJs = modules.filter((m) => m.type === 'ESModule' && relative(out, m.path) === basename(m.path));
  const entry = topLevelJs.find((m) => basename(m.path) === 'index.js') ?? (topLevelJs.length === 1 ? topLevelJs[0] : undefined);
  if (!entry) throw new Error(`${name}: cannot tell the entry module among ${topLevelJs.map((m) => basename(m.path)).join(', ') || 'no .js files'} in ${out}`);
  modules.sort((a, b) => Number(b === entry) - Number(a === entry) || a.path.localeCompare(b.path));

  const contents = modules.map((m) => readFileSync(m.path));
  const rawBytes = contents.reduce((n, c) => n + c.length, 0);
  const gzipBytes = gzipSync(Buffer.concat(contents)).length;
  // wrangler's own figure, for a cross-check in the report (format: "Total Upload: X KiB / gzip: Y KiB").
  const reported = /Total Upload:\s*([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(log.replace(/\x1b\[[0-9;]*m/g, ''));
  return {
    name,
    outdir: out,
    composition: composition ? bundleComposition(metafile) : null,
    modules: modules.map((m) => ({ type: m.type, path: m.path, name: relative(out, m.path), bytes: m.bytes })),
    rawBytes,
    gzipBytes,
    wranglerGzipKiB: reported ? Number(reported[2]) : null,
    buildMs,
  };
}

/**
 * Bytes of the output JS by origin: each npm package, and the project's own code. Raw (before
 * gzip): it says where to look when the bundle grows, not what each part adds after compression.
 */
function bundleComposition(metafile) {
  const meta = JSON.parse(readFileSync(metafile, 'utf8'));
  const bytes = {};
  for (const output of Object.values(meta.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs ?? {})) {
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? (input.startsWith('src/') || input.includes('/src/') ? 'src (this project)' : 'other');
      bytes[pkg] = (bytes[pkg] ?? 0) + bytesInOutput;
    }
  }
  return Object.entries(bytes)
    .sort((a, b) => b[1] - a[1])
    .map(([origin, n]) => ({ origin, bytes: n }));
}
