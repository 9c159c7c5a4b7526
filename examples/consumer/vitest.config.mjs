import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { unstable_readConfig } from 'wrangler';
import { defineConfig } from 'vitest/config';

// (JavaScript, not TypeScript: it runs in Node, outside the Workers typecheck of tsconfig.json.)
// Runs the consumer Worker (under test) beside the real edge-auth Worker, built exactly as it
// deploys (`wrangler deploy --dry-run`) and loaded as an auxiliary Worker named "edge-auth", the
// service the consumer's [[services]] binding points at. The runner also binds edge-auth's D1 (to
// apply migrations) and its HTTP entry (to register and log in).
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const outdir = join(root, 'dist', 'consumer-test-auth');

// Test-only secrets, the same as the root vitest config's.
export const AUTH_SECRETS = {
  JWT_SECRET: 'test-jwt-secret-0123456789abcdefghijklmnopqrstuvwxyz',
  KEY_ENCRYPTION_KEY: 'test-key-encryption-key-0123456789abcdefghijklmnop',
};

function buildAuthWorker() {
  const wrangler = join(root, 'node_modules', '.bin', 'wrangler');
  rmSync(outdir, { recursive: true, force: true }); // no stale modules from an earlier build
  const build = spawnSync(wrangler, ['deploy', '--dry-run', '--outdir', outdir, '-c', join(root, 'wrangler.toml')], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (build.status !== 0) throw new Error(`building edge-auth failed:\n${build.stdout}\n${build.stderr}`);
  // List the bundle's modules explicitly: the entry plus the argon2 wasm files it imports.
  const files = readdirSync(outdir);
  return [
    { type: 'ESModule', path: join(outdir, 'index.js') },
    ...files.filter((f) => f.endsWith('.wasm')).map((f) => ({ type: 'CompiledWasm', path: join(outdir, f) })),
  ];
}

export default defineConfig(async () => {
  const modules = buildAuthWorker();
  const auth = unstable_readConfig({ config: join(root, 'wrangler.toml') });
  const migrations = await readD1Migrations(join(root, 'migrations'));
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: join(here, 'wrangler.toml') },
        miniflare: {
          bindings: { TEST_MIGRATIONS: migrations, ...AUTH_SECRETS },
          d1Databases: { AUTH_DB: 'edge-auth-db' },
          serviceBindings: { AUTH_HTTP: 'edge-auth' },
          workers: [
            {
              name: 'edge-auth',
              modules,
              modulesRoot: outdir,
              compatibilityDate: auth.compatibility_date,
              compatibilityFlags: auth.compatibility_flags,
              bindings: { ...auth.vars, ...AUTH_SECRETS },
              d1Databases: { DB: 'edge-auth-db' },
              kvNamespaces: { KV: 'edge-auth-kv' },
              // The auth Worker refuses login/register/refresh without its [[ratelimits]] bindings.
              ratelimits: Object.fromEntries(auth.ratelimits.map(({ name, namespace_id, simple }) => [name, { namespace_id, simple }])),
            },
          ],
        },
      }),
    ],
    test: {
      name: 'consumer',
      root: here,
      include: ['test/**/*.test.ts'],
      setupFiles: ['./test/setup.ts'],
      testTimeout: 30_000,
      hookTimeout: 30_000,
    },
  };
});
