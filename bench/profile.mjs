#!/usr/bin/env node
// `node bench/profile.mjs [--alg HS256|ES256] [--path /api/private] [--seconds 5] [--gateway]`: a V8 CPU profile
// of the service under load, through workerd's inspector. The service is built unminified
// (bench/profile/wrangler.toml), started with real local D1/KV, given a user and a token, warmed
// up, then sampled while autocannon loads one route. Prints JS self time per request by module
// (from the bundle's `// path` markers) and the top functions. The JS isolate only: workerd's
// own HTTP and the D1/KV simulators are not in it (the bench's CPU µs/req includes them).
// `--gateway` starts the bench's Node origin and the bench's GATEWAY_ROUTES table (bench/lib/gateway.mjs),
// so `--path /bench-api/item` (ES256 bearer) or `/bench-api/anon/item` profiles a proxied request.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { unstable_readConfig } from 'wrangler';
import { buildWorker } from './lib/build.mjs';
import { gatewayRoutes, startUpstream } from './lib/gateway.mjs';
import { call } from './lib/http.mjs';
import { loadSlice } from './lib/load.mjs';
import { applyMigrations, startWorker } from './lib/workers.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: {
    alg: { type: 'string', default: 'HS256' },
    path: { type: 'string', default: '/api/private' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '10' },
    top: { type: 'string', default: '25' },
    gateway: { type: 'boolean', default: false },
  },
});
const INSPECTOR_PORT = 9229 + Math.floor(Math.random() * 500);

const wrangler = unstable_readConfig({ config: join(ROOT, 'wrangler.toml') });
const compat = { date: wrangler.compatibility_date, flags: wrangler.compatibility_flags ?? [] };
const ratelimits = Object.fromEntries((wrangler.ratelimits ?? []).map(({ name, namespace_id, simple }) => [name, { namespace_id, simple: { ...simple, limit: 1_000_000_000 } }]));
const secrets = { JWT_SECRET: randomBytes(32).toString('base64url'), KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url') };
const build = await buildWorker({ name: 'edge-auth', config: 'bench/profile/wrangler.toml', outdir: 'bench/out/profile', root: ROOT });
const upstream = opts.gateway ? await startUpstream(ROOT) : undefined;
const gateway = upstream ? { GATEWAY_ROUTES: gatewayRoutes(upstream.url) } : {};
const w = await startWorker({ build, compat, bindings: { ...wrangler.vars, ...secrets, JWT_ALG: opts.alg, ...gateway }, d1: ['DB'], kv: ['KV'], ratelimits, inspectorPort: INSPECTOR_PORT });
try {
  await applyMigrations(w, 'DB', join(ROOT, 'migrations'));
  const user = { username: 'bench-profile-0', password: `bench-${randomBytes(12).toString('base64url')}` };
  await call(w.url, '/auth/register', { method: 'POST', body: user, expect: 201 });
  const session = (await call(w.url, '/auth/login', { method: 'POST', body: user, expect: 200 })).json;
  const request = { method: 'GET', path: opts.path, headers: { authorization: `Bearer ${session.access_token}` } };
  await loadSlice({ url: w.url, request, connections: Number(opts.connections), duration: 2 }); // warm-up: JIT, caches

  const targets = await (await fetch(`http://127.0.0.1:${INSPECTOR_PORT}/json`)).json();
  const target = targets.find((t) => t.id.startsWith('core:user:'));
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((ok, fail) => ((ws.onopen = ok), (ws.onerror = fail)));
  let id = 0;
  const pending = new Map();
  ws.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.id && pending.has(msg.id)) pending.get(msg.id)(msg);
  };
  const send = (method, params = {}) =>
    new Promise((ok) => {
      pending.set(++id, ok);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await send('Profiler.enable');
  await send('Profiler.setSamplingInterval', { interval: 50 });
  await send('Profiler.start');
  const slice = await loadSlice({ url: w.url, request, connections: Number(opts.connections), duration: Number(opts.seconds) });
  const { result } = await send('Profiler.stop');
  ws.close();
  report(result.profile, slice.ok + slice.non2xx, readFileSync(join(build.outdir, 'index.js'), 'utf8'));
} finally {
  await w.mf.dispose();
  await upstream?.stop();
}

function report(profile, requests, bundle) {
  // Module of each bundle line: esbuild writes `// <path>` before each module's code.
  const marks = [];
  bundle.split('\n').forEach((line, i) => {
    const m = /^\/\/ ([^\s]+\.(?:[mc]?js|ts))$/.exec(line);
    if (!m) return;
    const path = m[1];
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];
    marks.push([i, pkg ?? (path.includes('src/') ? path.slice(path.indexOf('src/')) : path)]);
  });
  const moduleAt = (line) => {
    let lo = 0, hi = marks.length - 1, found = '(runtime)';
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (marks[mid][0] <= line) (found = marks[mid][1]), (lo = mid + 1);
      else hi = mid - 1;
    }
    return found;
  };
  const dt = new Map();
  profile.samples.forEach((node, i) => dt.set(node, (dt.get(node) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byModule = new Map();
  const byFunction = new Map();
  let total = 0;
  for (const node of profile.nodes) {
    const us = dt.get(node.id) ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)' || functionName === '(program)') continue;
    total += us;
    const module = url.endsWith('index.js') ? moduleAt(lineNumber) : functionName.startsWith('(') ? functionName : '(runtime)';
    const group = module.startsWith('src/') ? 'src (this project)' : module;
    byModule.set(group, (byModule.get(group) ?? 0) + us);
    const fn = `${functionName || '(anonymous)'}  ${module === '(runtime)' ? `(runtime: ${url || 'native'}:${lineNumber})` : module}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  }
  const per = (us) => (us / requests).toFixed(1).padStart(7);
  console.log(`${requests} requests to ${opts.path} (${opts.alg}); JS self time ${per(total)} µs/request (idle and (program) excluded)\n`);
  console.log('by module (µs/request):');
  for (const [m, us] of [...byModule].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${per(us)}  ${m}`);
  console.log('\ntop functions (self, µs/request):');
  for (const [f, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(opts.top))) console.log(`  ${per(us)}  ${f}`);
}
