// Running built Workers in workerd through Miniflare's API, with real local D1 and KV (the same
// SQLite-backed simulators `wrangler dev` uses), in memory so every run starts from empty storage.
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from 'miniflare';

/**
 * Start one Worker in its own workerd process and return the URL of its direct socket.
 *
 * Why a direct socket: Miniflare's default URL goes through its own entry Worker (request
 * logging, pretty error pages, `cf` object), which roughly halves a bare route's throughput here
 * and would hide the differences we want to see. `unsafeDirectSockets` serves the user Worker
 * straight from workerd, which is closer to production. Every target uses the same path, so the
 * ratios are fair either way.
 *
 * Why one process per target: only one scenario runs at a time, and separate processes keep one
 * target's garbage collector, caches and storage out of another's measurements.
 */
export async function startWorker({ build, compat, bindings = {}, d1 = [], kv = [], logFile }) {
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: '127.0.0.1',
      port: 0,
      log: new Log(LogLevel.WARN),
      // No Request.cf download from Cloudflare: this bench talks to 127.0.0.1 only.
      cf: false,
      // console.* output of the Worker goes to a scratch file, not the terminal: a Worker that logs
      // per request must not get to measure our terminal instead of itself.
      handleStructuredLogs: logFile ? ({ level, message }) => appendFileSync(logFile, `[${level}] ${message}\n`) : () => {},
      workers: [
        {
          name: build.name,
          modulesRoot: build.outdir,
          modules: build.modules.map(({ type, path }) => ({ type, path })),
          compatibilityDate: compat.date,
          compatibilityFlags: compat.flags,
          bindings,
          d1Databases: Object.fromEntries(d1.map((b) => [b, `${build.name}-${b}`])),
          kvNamespaces: Object.fromEntries(kv.map((b) => [b, `${build.name}-${b}`])),
          unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
        },
      ],
    }),
  );
  await mf.ready;
  const url = await mf.unsafeGetDirectURL(build.name);
  return { name: build.name, mf, url: url.href.replace(/\/$/, '') };
}

/**
 * Apply the project's D1 migrations (drizzle-kit output: one file per migration, statements
 * separated by `--> statement-breakpoint`) in file order, each file as one batch (a transaction).
 */
export async function applyMigrations(worker, binding, migrationsDir) {
  const db = await worker.mf.getD1Database(binding, worker.name);
  const files = readdirSync(migrationsDir).filter((f) => f.endsWith('.sql')).sort();
  for (const file of files) {
    const statements = readFileSync(join(migrationsDir, file), 'utf8')
      .split('--> statement-breakpoint')
      .map((s) => s.trim())
      .filter(Boolean);
    await db.batch(statements.map((s) => db.prepare(s)));
  }
  return files.length;
}
