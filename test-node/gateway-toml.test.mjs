// The gateway's wrangler.toml contract: with [assets] and the SPA fallback, a path not listed in
// run_worker_first is answered by the asset server and never reaches the Worker, so every
// GATEWAY_ROUTES path of every environment must be covered by it. And the table may not shadow
// the assets: src/gateway/route-table.ts keeps a list of public/'s top-level entries, checked here.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runWorkerFirst } from '../scripts/lib/run-worker-first.mjs';
import { filledToml, resolve, ROOT } from './fixtures.mjs';

function routes(config) {
  const raw = config.vars?.GATEWAY_ROUTES ?? [];
  return typeof raw === 'string' ? JSON.parse(raw) : raw;
}

describe('wrangler.toml and the gateway', () => {
  const envs = resolve(filledToml());

  for (const name of ['topLevel', 'staging', 'production']) {
    it(`${name}: every GATEWAY_ROUTES path reaches the Worker (run_worker_first)`, () => {
      const config = envs[name];
      const first = runWorkerFirst(config.assets?.run_worker_first);
      for (const route of routes(config)) {
        // A wildcard route must be covered for its prefix itself and for paths below it.
        const samples = route.path.endsWith('/*') ? [route.path.slice(0, -2), `${route.path.slice(0, -1)}x`] : [route.path];
        for (const sample of samples) assert.ok(first.reaches(sample), `${name}: ${sample} (route ${route.path}) is not in [assets] run_worker_first`);
        if (route.path.endsWith('/*')) assert.deepEqual(first.excludedUnder(route.path.slice(0, -2)), [], `${name}: part of ${route.path} is excluded from run_worker_first`);
      }
    });
  }

  it('the development table proxies /app-api/* to the example origin on 127.0.0.1:8789', () => {
    const table = routes(envs.topLevel);
    assert.ok(table.length > 0);
    for (const route of table) {
      assert.ok(route.path.startsWith('/app-api'), route.path);
      assert.equal(route.upstream, 'http://127.0.0.1:8789');
    }
  });

  it("the route table's reserved asset paths cover every top-level entry of public/", () => {
    const source = readFileSync(join(ROOT, 'src/gateway/route-table.ts'), 'utf8');
    const list = /RESERVED_PREFIXES = \[([^\]]*)\]/.exec(source);
    assert.ok(list, 'RESERVED_PREFIXES not found');
    const reserved = [...list[1].matchAll(/'([^']+)'/g)].map((m) => m[1]);
    for (const entry of readdirSync(join(ROOT, 'public'))) {
      assert.ok(reserved.includes(`/${entry}`), `public/${entry} is not in RESERVED_PREFIXES`);
    }
  });
});
