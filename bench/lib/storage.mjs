// Counting what each request does, not how long it takes: the service wrapped with counters
// (bench/instrument/index.ts) runs in its own workerd with fresh storage; each scenario gets one
// warm-up request, then N sequential requests, and the counts are divided by N. This is the
// evidence behind "this route reads D1 on every request" style findings.
import { buildWorker } from './build.mjs';
import { call } from './http.mjs';
import { mintHs256Tokens } from './tokens.mjs';
import { applyMigrations, startWorker } from './workers.mjs';

const REQUESTS = 20;
const LOGIN_REQUESTS = 5; // each one is an argon2id hash

export async function measureStorage({ root, compat, d1, kv, ratelimits = {}, vars, secrets, migrationsDir, track }) {
  const build = await buildWorker({ name: 'edge-auth-instrumented', config: 'bench/instrument/wrangler.toml', outdir: 'bench/out/instrument', root });
  const start = async (alg, extra = {}) => {
    const w = await startWorker({ build, compat, bindings: { ...vars, ...secrets, JWT_ALG: alg, ...extra }, d1, kv, ratelimits });
    track(w);
    for (const binding of d1) await applyMigrations(w, binding, migrationsDir);
    return w;
  };
  const hs = await start('HS256');
  const es = await start('ES256');
  // Usage metering flushing every 10 requests: its deferred batches show, on no response path.
  const metered = await start('ES256', { USAGE_FLUSH_EVENTS: '10' });

  const user = { username: 'bench-count-0', password: secrets.JWT_SECRET.slice(0, 20) };
  for (const w of [hs, es, metered]) await call(w.url, '/auth/register', { method: 'POST', body: user, expect: 201 });
  const meteredSession = (await call(metered.url, '/auth/login', { method: 'POST', body: user, expect: 200 })).json;
  const hsSession = (await call(hs.url, '/auth/login', { method: 'POST', body: user, expect: 200 })).json;
  let esSession = (await call(es.url, '/auth/login', { method: 'POST', body: user, expect: 200 })).json;

  // A personal API key (a sign-in just happened: no step-up needed), sent as X-API-Key.
  const apiKey = (await call(es.url, '/auth/api-keys', { method: 'POST', token: esSession.access_token, body: { name: 'bench' }, expect: 201 })).json.api_key;
  const withKey = () => fetch(`${es.url}/api/private`, { headers: { 'x-api-key': apiKey }, signal: AbortSignal.timeout(15_000) }).then(async (r) => {
    if (r.status !== 200) throw new Error(`api key request: ${r.status} ${await r.text()}`);
  });

  // Distinct sessions, so the isolate's revocation cache never answers: the uncached shape.
  const uncached = mintHs256Tokens({ count: REQUESTS + 1, secret: secrets.JWT_SECRET, like: hsSession.access_token });
  const scenarios = [
    { id: 'private-hs256', w: hs, n: REQUESTS, send: () => call(hs.url, '/api/private', { token: hsSession.access_token, expect: 200 }) },
    { id: 'private-hs256-scale', w: hs, n: REQUESTS, send: () => call(hs.url, '/api/private', { token: uncached.pop(), expect: 200 }) },
    { id: 'private-es256', w: es, n: REQUESTS, send: () => call(es.url, '/api/private', { token: esSession.access_token, expect: 200 }) },
    // 20 requests, a flush every 10: 0.1 deferred D1 batch per request, no write on any response path.
    { id: 'private-es256-metered-flush10', w: metered, n: REQUESTS, send: () => call(metered.url, '/api/private', { token: meteredSession.access_token, expect: 200 }) },
    // The KV copy is read once per key per 5 s per isolate, "last used" written at most every 5 min.
    { id: 'apikey-es256', w: es, n: REQUESTS, send: withKey },
    { id: 'jwks', w: es, n: REQUESTS, send: () => call(es.url, '/.well-known/jwks.json', { expect: 200 }) },
    {
      id: 'refresh',
      w: es,
      n: REQUESTS,
      send: async () => {
        esSession = (await call(es.url, '/auth/refresh', { method: 'POST', body: { refresh_token: esSession.refresh_token }, expect: 200 })).json;
      },
    },
    { id: 'login', w: es, n: LOGIN_REQUESTS, send: () => call(es.url, '/auth/login', { method: 'POST', body: user, expect: 200 }) },
  ];

  const rows = [];
  for (const s of scenarios) {
    await s.send(); // warm: module init, key ring load, wasm instantiation
    await call(s.w.url, '/__bench/counts', { expect: 200 }); // reset
    for (let i = 0; i < s.n; i++) await s.send();
    const { counts, queries } = (await call(s.w.url, '/__bench/counts', { expect: 200 })).json;
    const perRequest = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v / s.n]));
    const sql = Object.entries(queries)
      .sort((a, b) => b[1] - a[1])
      .map(([text, count]) => ({ perRequest: count / s.n, sql: text.replace(/\s+/g, ' ').slice(0, 200) }));
    rows.push({ id: s.id, requests: s.n, perRequest, sql });
  }
  await Promise.all([hs, es, metered].map((w) => w.mf.dispose()));
  return { requests: REQUESTS, loginRequests: LOGIN_REQUESTS, rows };
}
