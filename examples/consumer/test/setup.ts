import { applyD1Migrations, type D1Migration } from 'cloudflare:test';
import { env } from 'cloudflare:workers';

// The runner's AUTH_DB is edge-auth's own database (same id): migrate it before the tests.
const bindings = env as unknown as { AUTH_DB: D1Database; TEST_MIGRATIONS: D1Migration[] };
await applyD1Migrations(bindings.AUTH_DB, bindings.TEST_MIGRATIONS);
