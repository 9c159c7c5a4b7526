import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

// Integration tests run inside workerd against real local D1 and KV (isolated per test file).
// Secrets are fixed test values here; `npm run dev` generates random ones into .dev.vars.
// The gateway tests (test/gateway*.test.ts) proxy to auxiliary Workers bound as UPSTREAM and BROKEN.
export default defineConfig(async () => {
  const migrations = await readD1Migrations('./migrations');
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: './wrangler.toml' },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            JWT_SECRET: 'test-jwt-secret-0123456789abcdefghijklmnopqrstuvwxyz',
            KEY_ENCRYPTION_KEY: 'test-key-encryption-key-0123456789abcdefghijklmnop',
          },
          // A small quota tier's per-minute limiter (test/usage-quotas.test.ts), beside wrangler.toml's.
          ratelimits: { RL_QUOTA_TEST: { namespace_id: "9901", simple: { limit: 3, period: 60 } } },
          // The gateway tests' upstream: a second Worker that answers with what it received.
          serviceBindings: { UPSTREAM: 'gateway-upstream', BROKEN: 'gateway-broken' },
          workers: [
            { name: 'gateway-upstream', modules: true, scriptPath: './test/gateway-upstream.js', compatibilityDate: '2026-11-01' },
            // Throws on every request: a service upstream that fails.
            { name: 'gateway-broken', modules: true, script: 'export default { fetch() { throw new Error("down at 10.0.0.9"); } };', compatibilityDate: '2026-11-01' },
          ],
        },
      }),
    ],
    test: {
      include: ['test/**/*.test.ts'],
      setupFiles: ['./test/setup.ts'],
      testTimeout: 30_000,
      hookTimeout: 30_000,
    },
  };
});
