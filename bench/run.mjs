#!/usr/bin/env node
// `npm run bench`: build the service Worker bundle (plus a bare Worker and a hono/jwt reference
// Worker), run each built bundle in workerd with real local D1 and KV, seed it over HTTP, load
// it with autocannon in interleaved rounds, and report throughput, latency, ratios and bundle
// size. See bench/README.md for what each number means and how to read it.
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { unstable_readConfig } from 'wrangler';
import { buildWorker } from './lib/build.mjs';
import { measureColdStart } from './lib/cold-start.mjs';
import { gatewayRoutes, gatewayScenarios, startUpstream } from './lib/gateway.mjs';
import { call, mapLimit } from './lib/http.mjs';
import { loadSlice } from './lib/load.mjs';
import { markdown, ratio, readmeBlock, summarize, updateReadme } from './lib/report.mjs';
import { measureStorage } from './lib/storage.mjs';
import { simplejwtAvailable, startSimplejwt } from './lib/simplejwt.mjs';
import { jwtHeader, mintHs256Tokens } from './lib/tokens.mjs';
import { applyMigrations, cpuMs, startWorker } from './lib/workers.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'bench/out'); // gitignored scratch: bundles, worker logs
const RESULTS = join(ROOT, 'bench/results');
const BUDGET_FILE = join(ROOT, 'bench/budget.json');
const requireFrom = createRequire(join(ROOT, 'package.json'));
// The backstop, not the plan: the defaults take about 6 minutes on 2 cores (--quick about 2), more
// when other work shares the machine.
const HARD_LIMIT_SECONDS = 840;

const USAGE = `usage: npm run bench [-- options]
  --rounds N         interleaved rounds per scenario (default 5)
  --duration S       seconds per scenario slice (default 3)
  --warmup S         unmeasured seconds per scenario before the rounds (default 1)
  --only a,b         run only these scenario ids (the bare route always runs: ratios need it)
  --no-storage       skip the instrumented storage/crypto call count
  --no-cold-start    skip the cold-start samples
  --no-simplejwt     skip the simplejwt-on-gunicorn comparison (skipped anyway where not installed)
  --cold-samples N   fresh isolates per cold-start target (default 5)
  --cold-compare DIR also cold-start the service built from another checkout (e.g. main), for before/after
  --quick            short run for CI or a smoke check: 2 rounds of 1 s, no warm-up, 2 cold samples
  --update-readme    replace README.md between <!-- bench:start --> and <!-- bench:end -->
  --readme-only      do not run: rewrite that README block from bench/results/latest.json
  --help`;

const { values: opts } = parseArgs({
  options: {
    // Many short rounds rather than few long ones: this machine is shared, and a burst of
    // someone else's work spoils one slice; the median of 5 per-round ratios shrugs that off.
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    only: { type: 'string' },
    'no-storage': { type: 'boolean', default: false },
    'no-cold-start': { type: 'boolean', default: false },
    'no-simplejwt': { type: 'boolean', default: false },
    'cold-samples': { type: 'string', default: '5' },
    'cold-compare': { type: 'string' },
    quick: { type: 'boolean', default: false },
    'update-readme': { type: 'boolean', default: false },
    'readme-only': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}
if (opts['readme-only']) {
  const latest = join(RESULTS, 'latest.json');
  if (!existsSync(latest)) {
    console.error('bench: no bench/results/latest.json yet: run `npm run bench` first');
    process.exit(1);
  }
  const updated = updateReadme(join(ROOT, 'README.md'), readmeBlock(JSON.parse(readFileSync(latest, 'utf8'))));
  console.error(updated ? 'README.md: table updated between the bench markers' : 'README.md: no bench markers, left untouched');
  process.exit(0);
}
// --quick overrides the timing options: a smoke run (every scenario checked and loaded briefly,
// the budget enforced) that fits in a CI step; its numbers are too short to quote.
const ROUNDS = opts.quick ? 2 : positiveInt(opts.rounds, '--rounds');
const DURATION = opts.quick ? 1 : positiveInt(opts.duration, '--duration');
const WARMUP = opts.quick ? 0 : Number(opts.warmup);
const COLD_SAMPLES = opts.quick ? 2 : positiveInt(opts['cold-samples'], '--cold-samples');
/** Distinct HS256 tokens of the scale scenario: more than the isolate's revocation cache holds. */
const SCALE_TOKENS = 20_000;

function positiveInt(raw, name) {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`${name} must be a whole number >= 1\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

const started = performance.now();
const running = []; // every Miniflare we started, so every exit path disposes them
const processes = []; // other processes we started (the gateway scenarios' origin)
const say = (msg) => console.error(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${msg}`);

async function shutdown() {
  await Promise.allSettled([...running.map((w) => w.mf.dispose()), ...processes.map((p) => p.stop())]);
}

const watchdog = setTimeout(async () => {
  say(`still running after ${HARD_LIMIT_SECONDS} s: giving up`);
  await Promise.race([shutdown(), new Promise((r) => setTimeout(r, 5000))]);
  process.exit(3);
}, HARD_LIMIT_SECONDS * 1000);

/** Installed version of a package; workerd is the one miniflare itself resolves (it may be nested). */
function versionOf(pkg) {
  try {
    const from = pkg === 'workerd' ? createRequire(requireFrom.resolve('miniflare')) : requireFrom;
    return JSON.parse(readFileSync(from.resolve(`${pkg}/package.json`), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

function gitInfo() {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'migrations', 'wrangler.toml', 'package.json', 'bench'], { cwd: ROOT }).toString().trim() !== '';
    return { commit, dirty };
  } catch {
    return { commit: 'none', dirty: true };
  }
}



/**
 * Seeds a persisted storage directory through the service (migrations, signing keys, one user and
 * session), then samples fresh isolates of the bare Worker (control), the service and optionally
 * the --cold-compare build on it.
 */
async function coldStartSamples({ service, bare, compare, compat, d1, kv, ratelimits, vars, secrets, migrationsDir }) {
  const dir = join(OUT, 'cold-storage');
  rmSync(dir, { recursive: true, force: true });
  const bindings = { ...vars, ...secrets, JWT_ALG: 'ES256' };
  const seed = await startWorker({ build: service, compat, bindings, d1, kv, ratelimits, persistDir: dir });
  running.push(seed);
  for (const binding of d1) await applyMigrations(seed, binding, migrationsDir);
  const user = { username: 'bench-cold-0', password: `bench-${randomBytes(12).toString('base64url')}` };
  await call(seed.url, '/auth/register', { method: 'POST', body: user, expect: 201 });
  const session = (await call(seed.url, '/auth/login', { method: 'POST', body: user, expect: 200 })).json;
  await seed.mf.dispose();
  running.splice(running.indexOf(seed), 1);
  const request = { path: '/api/private', headers: { authorization: `Bearer ${session.access_token}` } };
  const serviceTarget = { id: 'service', label: 'edge-auth, first GET /api/private (ES256)', build: service, bindings, d1, kv, ratelimits, persistDir: dir, storageName: service.name, request };
  const targets = [
    // The control gets the service's bindings and storage: Miniflare starts a simulator per D1, KV
    // and rate-limit binding inside the same workerd, and that must not count as the service's.
    // Its request makes one D1 query and one KV read, so the simulators' first use is subtracted too.
    { ...serviceTarget, id: 'bare', label: 'bare Worker with the same bindings, 1 D1 + 1 KV read (control)', build: bare, request: { path: '/storage', headers: {} } },
    serviceTarget,
  ];
  if (compare) targets.push({ ...serviceTarget, id: 'compare', label: `edge-auth built from ./${basename(resolve(opts['cold-compare']))} (--cold-compare)`, build: compare });
  return measureColdStart({ targets, compat, samples: COLD_SAMPLES, track: (w) => running.push(w), say });
}

async function main() {
  // Other work on the machine skews everything; the load average says how busy it was.
  const loadBefore = loadavg()[0];
  mkdirSync(OUT, { recursive: true });
  mkdirSync(RESULTS, { recursive: true });

  // --- Configuration comes from the service's own wrangler.toml, as a deploy would read it. ----
  const wrangler = unstable_readConfig({ config: join(ROOT, 'wrangler.toml') });
  const compat = { date: wrangler.compatibility_date, flags: wrangler.compatibility_flags ?? [] };
  const d1 = (wrangler.d1_databases ?? []).map((d) => d.binding);
  const kv = (wrangler.kv_namespaces ?? []).map((k) => k.binding);
  const migrationsDir = join(ROOT, wrangler.d1_databases?.[0]?.migrations_dir ?? 'migrations');
  const vars = { ...wrangler.vars };
  // The [[ratelimits]] bindings, with their limits raised: every bench request comes from one
  // address, so the production limits would turn the login and refresh scenarios into 429s. The
  // limiter call itself stays in the measured path, as in production.
  const ratelimits = Object.fromEntries(
    (wrangler.ratelimits ?? []).map(({ name, namespace_id, simple }) => [name, { namespace_id, simple: { ...simple, limit: 1_000_000_000 } }]),
  );
  // Secrets are random per run (the service refuses short or missing ones); never printed.
  const secrets = {
    JWT_SECRET: randomBytes(32).toString('base64url'),
    KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
  };

  // --- Build: the service exactly as deployed, and the two comparison Workers the same way. ----
  say('building Workers with wrangler deploy --dry-run');
  const service = await buildWorker({ name: 'edge-auth', config: 'wrangler.toml', outdir: 'bench/out/service', root: ROOT, composition: true });
  const bare = await buildWorker({ name: 'bench-bare', config: 'bench/bare/wrangler.toml', outdir: 'bench/out/bare', root: ROOT });
  const reference = await buildWorker({ name: 'bench-reference', config: 'bench/reference/wrangler.toml', outdir: 'bench/out/reference', root: ROOT });
  const limit = await buildWorker({ name: 'bench-limit', config: 'bench/limit/wrangler.toml', outdir: 'bench/out/limit', root: ROOT });
  const compare = opts['cold-compare']
    ? await buildWorker({ name: 'edge-auth-compare', config: join(resolve(opts['cold-compare']), 'wrangler.toml'), outdir: 'bench/out/compare', root: resolve(opts['cold-compare']) })
    : null;
  const passthrough = await buildWorker({ name: 'bench-passthrough', config: 'bench/passthrough/wrangler.toml', outdir: 'bench/out/passthrough', root: ROOT });
  const budget = JSON.parse(readFileSync(BUDGET_FILE, 'utf8'));
  const bundle = {
    modules: service.modules.map(({ name, type, bytes }) => ({ name, type, bytes })),
    rawBytes: service.rawBytes,
    gzipBytes: service.gzipBytes,
    wranglerGzipKiB: service.wranglerGzipKiB,
    composition: service.composition,
    budgetBytes: Math.round(budget.gzipKiB * 1024),
    withinBudget: service.gzipBytes <= budget.gzipKiB * 1024,
  };
  say(`service bundle: ${(bundle.gzipBytes / 1024).toFixed(1)} KiB gzip (wrangler says ${bundle.wranglerGzipKiB} KiB), budget ${budget.gzipKiB} KiB`);

  // --- Cold start: fresh isolates on seeded storage, before the load heats anything up. --------
  let coldStart = null;
  if (!opts['no-cold-start']) {
    say(`cold start: ${COLD_SAMPLES} fresh isolates per target`);
    coldStart = await coldStartSamples({ service, bare, compare, compat, d1, kv, ratelimits, vars, secrets, migrationsDir });
  }

  // --- Start: one workerd per target; the service twice, once per signing algorithm. ----------
  say('starting workerd (miniflare) targets');
  const logFile = (name) => join(OUT, `${name}.log`);
  const start = async (build, label, extra) => {
    const w = await startWorker({ build, compat, logFile: logFile(label), ...extra });
    running.push(w);
    return w;
  };
  // The gateway scenarios' origin, its own process; the service's gateway table points at it.
  const upstream = await startUpstream(ROOT);
  processes.push(upstream);
  const gateway = { GATEWAY_ROUTES: gatewayRoutes(upstream.url) };
  const bareW = await start(bare, 'bare', { kv: ['KV'] });
  const passthroughW = await start(passthrough, 'passthrough', { bindings: { UPSTREAM: upstream.url } });
  const svcHS = await start(service, 'service-hs256', { bindings: { ...vars, ...secrets, ...gateway, JWT_ALG: 'HS256' }, d1, kv, ratelimits });
  const svcES = await start(service, 'service-es256', { bindings: { ...vars, ...secrets, ...gateway, JWT_ALG: 'ES256' }, d1, kv, ratelimits });
  // Usage metering (issue 15) is on in the two above, as deployed; this one has it off, for the
  // metered-against-unmetered comparison of the protected route in the same run.
  const svcOff = await start(service, 'service-es256-unmetered', { bindings: { ...vars, ...secrets, ...gateway, JWT_ALG: 'ES256', USAGE_METERING: 'off' }, d1, kv, ratelimits });
  for (const w of [svcHS, svcES, svcOff]) for (const binding of d1) await applyMigrations(w, binding, migrationsDir);

  // --- Seed over HTTP, as a client would: register, then log in. --------------------------------
  say('seeding users and sessions over HTTP');
  const password = `bench-${randomBytes(12).toString('base64url')}`;
  const users = (prefix, n) => Array.from({ length: n }, (_, i) => ({ username: `${prefix}${i}`, password }));
  const register = (w) => (u) => call(w.url, '/auth/register', { method: 'POST', body: u, expect: 201 });
  const login = (w, u) => call(w.url, '/auth/login', { method: 'POST', body: u, expect: 200 }).then((r) => r.json);

  const hsUsers = users('bench-hs-', 1);
  await mapLimit(hsUsers, 2, register(svcHS));
  const hsSession = await login(svcHS, hsUsers[0]);

  const esUsers = users('bench-es-', 8); // 8 users: the contended login never has 5 attempts in flight on one account (the lockout)
  await mapLimit(esUsers, 2, register(svcES));
  const esSession = await login(svcES, esUsers[0]);
  await register(svcOff)(esUsers[0]);
  const offSession = await login(svcOff, esUsers[0]);

  // --- Machine clients: a personal API key, and an OAuth client of an administrator's. ---------
  const apiKey = (await call(svcES.url, '/auth/api-keys', { method: 'POST', token: esSession.access_token, body: { name: 'bench' }, expect: 201 })).json.api_key;
  const adminUser = { username: 'bench-admin', password };
  await register(svcES)(adminUser);
  const esDb = await svcES.mf.getD1Database('DB');
  await esDb.prepare(`UPDATE users SET roles = '["admin"]' WHERE username_key = ?`).bind(adminUser.username).run();
  const adminSession = await login(svcES, adminUser);
  const oauthClient = (await call(svcES.url, '/admin/clients', { method: 'POST', token: adminSession.access_token, body: { name: 'bench', roles: [] }, expect: 201 })).json;
  const clientBasic = `Basic ${Buffer.from(`${oauthClient.client.client_id}:${oauthClient.client_secret}`).toString('base64')}`;

  // --- The reference Worker gets the very same keys: the HS256 secret, the ES256 public JWK. --
  const jwks = (await call(svcES.url, '/.well-known/jwks.json', { expect: 200 })).json;
  const esKid = jwtHeader(esSession.access_token).kid;
  const esJwk = jwks.keys.find((k) => k.kid === esKid);
  if (!esJwk) throw new Error(`the ES256 token's kid ${esKid} is not in the JWKS`);
  const refVars = { JWT_ISSUER: vars.JWT_ISSUER, JWT_AUDIENCE: String(vars.JWT_AUDIENCE).split(',')[0].trim() };
  const refHS = await start(reference, 'reference-hs256', { bindings: { ...refVars, JWT_ALG: 'HS256', JWT_SECRET: secrets.JWT_SECRET } });
  const refES = await start(reference, 'reference-es256', { bindings: { ...refVars, JWT_ALG: 'ES256', JWT_PUBLIC_JWK: JSON.stringify(esJwk) } });
  const limHS = await start(limit, 'limit-hs256', { bindings: { JWT_ALG: 'HS256', JWT_SECRET: secrets.JWT_SECRET } });
  const limES = await start(limit, 'limit-es256', { bindings: { JWT_ALG: 'ES256', JWT_PUBLIC_JWK: JSON.stringify(esJwk) } });

  // The system the seed documents describe: djangorestframework-simplejwt on gunicorn, same key.
  let sjw = null;
  if (!opts['no-simplejwt'] && simplejwtAvailable()) {
    sjw = await startSimplejwt({ root: ROOT, secret: secrets.JWT_SECRET, issuer: refVars.JWT_ISSUER, audience: refVars.JWT_AUDIENCE, logFile: logFile('simplejwt') });
    running.push(sjw);
  } else if (!opts['no-simplejwt']) {
    say('simplejwt comparison skipped: apt-get install python3-djangorestframework-simplejwt gunicorn');
  }
  // simplejwt requires its token_type claim; otherwise the same claims, key and lifetime.
  const sjwToken = mintHs256Tokens({ count: 1, secret: secrets.JWT_SECRET, like: hsSession.access_token, extra: { token_type: 'access' } })[0];

  // Scale: distinct sessions in rotation, so every request misses the isolate's revocation cache
  // (5 s, 10,000 entries) and pays its KV read, as a busy production isolate would.
  const scaleTokens = mintHs256Tokens({ count: SCALE_TOKENS, secret: secrets.JWT_SECRET, like: hsSession.access_token });
  let scaleNext = 0;

  // Refresh tokens are single-use, so the refresh scenario draws from a pool that each success
  // refills with the rotated token. A slice that ends with requests in flight loses their tokens
  // (the server rotated, we never read the answer), so the pool is topped up between slices.
  const refreshPool = [];
  const REFRESH_CONNECTIONS = 4;
  // Contention: many clients rotating at once, each on its own session (D1 serialises the writes).
  const REFRESH_CONTENDED_CONNECTIONS = 16;
  let loginCounter = 0;
  const topUpRefreshPool = async (connections = REFRESH_CONNECTIONS) => {
    const missing = Math.max(0, connections * 3 - refreshPool.length);
    const fresh = await mapLimit(Array.from({ length: missing }), 2, () => login(svcES, esUsers[loginCounter++ % esUsers.length]));
    refreshPool.push(...fresh.map((s) => s.refresh_token));
  };

  const json = { 'content-type': 'application/json' };
  const fetchJson = async (url, init) => {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
    const text = await res.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {}
    return { status: res.status, json: body, text };
  };
  const bearer = (token) => ({ authorization: `Bearer ${token}` });
  const privateOk = (r) => r.status === 200 && typeof r.json?.user?.id === 'string';
  const refreshScenario = (id, label, connections) => ({
    id,
    label,
    target: svcES,
    connections,
    before: () => topUpRefreshPool(connections),
    request: {
      method: 'POST',
      path: '/auth/refresh',
      headers: json,
      // An empty pool sends a token that cannot exist: that request fails and is counted.
      setupRequest: (req) => ({ ...req, body: JSON.stringify({ refresh_token: refreshPool.shift() ?? 'pool-exhausted' }) }),
      onResponse: (status, body) => {
        if (status === 200) refreshPool.push(JSON.parse(body).refresh_token);
      },
    },
    check: async () => {
      await topUpRefreshPool(connections);
      const r = await call(svcES.url, '/auth/refresh', { method: 'POST', body: { refresh_token: refreshPool.shift() } });
      if (r.status === 200) refreshPool.push(r.json.refresh_token);
      return r;
    },
    ok: (r) => r.status === 200 && typeof r.json?.refresh_token === 'string' && typeof r.json?.access_token === 'string',
  });
  const loginScenario = (id, label, connections) => ({
    id,
    label,
    target: svcES,
    // One argon2id hash takes ~50 ms of a core: 2 connections already saturate the Worker.
    connections,
    request: {
      method: 'POST',
      path: '/auth/login',
      headers: json,
      setupRequest: (req) => ({ ...req, body: JSON.stringify(esUsers[loginCounter++ % esUsers.length]) }),
    },
    check: () => call(svcES.url, '/auth/login', { method: 'POST', body: esUsers[0] }),
    ok: (r) => r.status === 200 && typeof r.json?.access_token === 'string',
  });
  const all = [
    { id: 'bare', label: 'bare route (runtime ceiling)', target: bareW, connections: 10, request: { method: 'GET', path: '/' }, ok: (r) => r.status === 200 },
    // Calibration: one local KV read (the revocation check's shape) on the bare Worker.
    { id: 'bare-kv', label: 'bare route + 1 KV read', target: bareW, connections: 10, request: { method: 'GET', path: '/kv' }, ok: (r) => r.status === 200 && r.json?.revoked === false },
    // Calibration: the service's app stack (request id, config, security headers) with no auth.
    { id: 'health', label: 'edge-auth /health (app stack, no auth)', target: svcHS, connections: 10, request: { method: 'GET', path: '/health' }, ok: (r) => r.status === 200 },
    { id: 'reference-hs256', label: 'reference hono/jwt, HS256', target: refHS, connections: 10, request: { method: 'GET', path: '/api/private', headers: bearer(hsSession.access_token) }, ok: privateOk },
    ...(sjw
      ? [{ id: 'simplejwt-hs256', label: 'simplejwt on gunicorn (2 workers), HS256', target: sjw, connections: 10, request: { method: 'GET', path: '/api/private', headers: bearer(sjwToken) }, ok: privateOk }]
      : []),
    { id: 'limit-hs256', label: 'limit: bare + 1 cached-key verify, HS256', target: limHS, connections: 10, request: { method: 'GET', path: '/api/private', headers: bearer(hsSession.access_token) }, ok: privateOk },
    { id: 'private-hs256', label: 'edge-auth protected route, HS256', target: svcHS, connections: 10, request: { method: 'GET', path: '/api/private', headers: bearer(hsSession.access_token) }, ok: privateOk, reference: 'reference-hs256', limit: 'limit-hs256', simplejwt: 'simplejwt-hs256' },
    {
      id: 'private-hs256-scale',
      label: `edge-auth protected route, HS256, ${SCALE_TOKENS.toLocaleString('en-US')} sessions`,
      target: svcHS,
      connections: 10,
      request: {
        method: 'GET',
        path: '/api/private',
        setupRequest: (req) => ({ ...req, headers: bearer(scaleTokens[scaleNext++ % scaleTokens.length]) }),
      },
      check: () => call(svcHS.url, '/api/private', { token: scaleTokens[scaleNext++ % scaleTokens.length] }),
      ok: privateOk,
      reference: 'reference-hs256',
      limit: 'limit-hs256',
    },
    { id: 'reference-es256', label: 'reference hono/jwt, ES256', target: refES, connections: 10, request: { method: 'GET', path: '/api/private', headers: bearer(esSession.access_token) }, ok: privateOk },
    { id: 'limit-es256', label: 'limit: bare + 1 cached-key verify, ES256', target: limES, connections: 10, request: { method: 'GET', path: '/api/private', headers: bearer(esSession.access_token) }, ok: privateOk },
    { id: 'private-es256', label: 'edge-auth protected route, ES256', target: svcES, connections: 10, request: { method: 'GET', path: '/api/private', headers: bearer(esSession.access_token) }, ok: privateOk, reference: 'reference-es256', limit: 'limit-es256' },
    // Usage metering (issue 15): the same route on the same build, metering on against off (goal >= 0.95x req/s).
    { id: 'private-es256-unmetered', label: 'edge-auth protected route, ES256, USAGE_METERING=off', target: svcOff, connections: 10, request: { method: 'GET', path: '/api/private', headers: bearer(offSession.access_token) }, ok: privateOk },
    { id: 'private-es256-metered', label: 'edge-auth protected route, ES256, metering on (as deployed)', target: svcES, connections: 10, request: { method: 'GET', path: '/api/private', headers: bearer(esSession.access_token) }, ok: privateOk, reference: 'private-es256-unmetered' },
    // Machine clients against the JWT route (goal: an API-key request within 1.2x a JWT request).
    {
      id: 'apikey-es256',
      label: 'edge-auth protected route, API key (X-API-Key)',
      target: svcES,
      connections: 10,
      request: { method: 'GET', path: '/api/private', headers: { 'x-api-key': apiKey } },
      check: () => fetchJson(`${svcES.url}/api/private`, { headers: { 'x-api-key': apiKey } }),
      ok: privateOk,
      reference: 'private-es256',
    },
    {
      id: 'client-token',
      label: 'POST /oauth/token client_credentials (ES256)',
      target: svcES,
      connections: 10,
      request: { method: 'POST', path: '/oauth/token', headers: { authorization: clientBasic, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' },
      check: () => fetchJson(`${svcES.url}/oauth/token`, { method: 'POST', headers: { authorization: clientBasic, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' }),
      ok: (r) => r.status === 200 && typeof r.json?.access_token === 'string',
      reference: 'private-es256',
    },
    { id: 'jwks', label: 'JWKS', target: svcES, connections: 10, request: { method: 'GET', path: '/.well-known/jwks.json' }, ok: (r) => r.status === 200 && Array.isArray(r.json?.keys) && r.json.keys.length > 0 },
    refreshScenario('refresh', 'refresh with rotation, ES256', REFRESH_CONNECTIONS),
    refreshScenario('refresh-contended', 'refresh with rotation, ES256, contended', REFRESH_CONTENDED_CONNECTIONS),
    loginScenario('login', 'login (argon2id), ES256', 2),
    // Contention: more clients than cores; each hash takes a core for its whole length, so they queue.
    loginScenario('login-contended', 'login (argon2id), ES256, contended', 8),
  ];
  all.push(...gatewayScenarios({ upstream, passthrough: passthroughW, service: svcES, token: esSession.access_token }));
  const only = opts.only ? new Set(['bare', ...opts.only.split(',').map((s) => s.trim())]) : null;
  if (only) for (const id of only) if (!all.some((s) => s.id === id)) throw new Error(`--only: unknown scenario "${id}" (known: ${all.map((s) => s.id).join(', ')})`);
  const scenarios = all.filter((s) => !only || only.has(s.id));

  // --- Check every scenario answers correctly before timing it: a benchmark of 401s is a lie. --
  for (const s of scenarios) {
    const r = s.check
      ? await s.check()
      : await call(s.target.url, s.request.path, { method: s.request.method, token: s.request.headers?.authorization?.slice('Bearer '.length) });
    if (!s.ok(r)) throw new Error(`${s.id}: ${s.request.method} ${s.request.path} answered ${r.status}: ${r.text.slice(0, 300)}`);
  }

  const slice = async (s, duration) => {
    if (s.before) await s.before();
    const cpuOf = (t) => (t.cpu ? t.cpu() : cpuMs(t.pid));
    const cpuBefore = cpuOf(s.target);
    const r = await loadSlice({ url: s.target.url, request: s.request, connections: s.connections, duration });
    const cpuAfter = cpuOf(s.target);
    const answered = r.ok + r.non2xx;
    r.cpuMsPerRequest = cpuBefore !== null && cpuAfter !== null && answered > 0 ? (cpuAfter - cpuBefore) / answered : null;
    return r;
  };

  if (WARMUP > 0) {
    say(`warming up ${scenarios.length} scenarios, ${WARMUP} s each`);
    for (const s of scenarios) await slice(s, WARMUP);
  }

  // --- Interleaved rounds: A B C ... then ... C B A, so slow drift hits every scenario alike. ---
  const slices = Object.fromEntries(scenarios.map((s) => [s.id, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? scenarios : [...scenarios].reverse();
    for (const s of order) {
      const r = await slice(s, DURATION);
      slices[s.id].push(r);
      const cpu = r.cpuMsPerRequest === null ? '-' : (r.cpuMsPerRequest * 1000).toFixed(0);
      say(`round ${round + 1}/${ROUNDS} ${s.id.padEnd(16)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50?.toFixed(2) ?? '-'} ms  p99 ${r.p99?.toFixed(2) ?? '-'} ms  cpu ${cpu} µs/req  errors ${r.errors}`);
    }
  }

  const summaries = scenarios.map((s) => summarize({ ...s, target: s.target.name }, slices[s.id]));
  const byId = Object.fromEntries(summaries.map((s) => [s.id, s]));
  for (const s of summaries) {
    const def = scenarios.find((d) => d.id === s.id);
    if (s.id !== 'bare') {
      s.vsBare = ratio(s, byId.bare);
      s.cpuVsBare = ratio(s, byId.bare, 'cpuMsPerRequest');
    }
    if (def.simplejwt && byId[def.simplejwt]) s.cpuVsSimplejwt = ratio(s, byId[def.simplejwt], 'cpuMsPerRequest');
    if (def.limit && byId[def.limit]) {
      s.vsLimit = ratio(s, byId[def.limit]);
      s.cpuVsLimit = ratio(s, byId[def.limit], 'cpuMsPerRequest');
    }
    if (def.reference && byId[def.reference]) {
      s.vsReference = ratio(s, byId[def.reference]);
      s.cpuVsReference = ratio(s, byId[def.reference], 'cpuMsPerRequest');
    }
  }

  // The load targets are done; the storage count uses its own instrumented build and storage.
  await shutdown();
  running.length = 0;

  let storage = null;
  if (!opts['no-storage']) {
    say('counting storage and crypto calls per request (instrumented build)');
    storage = await measureStorage({ root: ROOT, compat, d1, kv, ratelimits, vars, secrets, migrationsDir, track: (w) => running.push(w) });
  }

  const cpu = cpus();
  const results = {
    date: new Date().toISOString(),
    command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    machine: {
      cpu: cpu[0]?.model.trim() ?? 'unknown',
      cores: cpu.length,
      memGiB: Math.round(totalmem() / 2 ** 30),
      os: `${platform()} ${release()}`,
      node: process.versions.node,
      loadAverage1mAtStart: Number(loadBefore.toFixed(2)),
    },
    versions: Object.fromEntries(['workerd', 'miniflare', 'wrangler', 'autocannon', 'hono', 'jose'].map((p) => [p, versionOf(p)])),
    git: gitInfo(),
    settings: { rounds: ROUNDS, duration: DURATION, warmup: WARMUP, compatibilityDate: compat.date, compatibilityFlags: compat.flags },
    bundle,
    coldStart,
    scenarios: summaries,
    storage,
    totalSeconds: (performance.now() - started) / 1000,
  };

  const md = markdown(results);
  const stamp = results.date.replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
  writeFileSync(join(RESULTS, `${stamp}.json`), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(RESULTS, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(RESULTS, 'latest.md'), md);
  console.log(md);
  say(`results: bench/results/${stamp}.json, bench/results/latest.json, bench/results/latest.md`);

  if (opts['update-readme']) {
    const readme = join(ROOT, 'README.md');
    if (updateReadme(readme, readmeBlock(results))) say('README.md: table updated between the bench markers');
    else say('README.md: no bench markers, left untouched');
  }

  if (!bundle.withinBudget) {
    console.error(`bench: the Worker bundle is ${(bundle.gzipBytes / 1024).toFixed(1)} KiB gzip, over the ${budget.gzipKiB} KiB budget in bench/budget.json`);
    return 1;
  }
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(`bench failed: ${err?.stack ?? err}`);
  code = 1;
} finally {
  await shutdown();
  clearTimeout(watchdog);
}
process.exit(code);
