// Running built Workers in workerd through Miniflare's API, with real local D1 and KV (the same
// SQLite-backed simulators `wrangler dev` uses), in memory so every run starts from empty storage.
import { execFileSync } from 'node:child_process';
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
export async function startWorker({ build, compat, bindings = {}, d1 = [], kv = [], ratelimits = {}, logFile, persistDir, storageName = build.name, inspectorPort }) {
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      // In memory unless told otherwise; the cold-start samples share one seeded directory.
      ...(persistDir ? { resourcePersistencePath: persistDir } : {}),
      // bench/profile.mjs: workerd's V8 inspector, for CPU profiles.
      ...(inspectorPort ? { inspectorPort } : {}),
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
          d1Databases: Object.fromEntries(d1.map((b) => [b, `${storageName}-${b}`])),
          kvNamespaces: Object.fromEntries(kv.map((b) => [b, `${storageName}-${b}`])),
          ratelimits,
          unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
        },
      ],
    }),
  );
  await mf.ready;
  const url = await mf.unsafeGetDirectURL(build.name);
  return { name: build.name, mf, url: url.href.replace(/\/$/, ''), pid: newWorkerdChild() };
}

// --- CPU accounting -------------------------------------------------------------------------
// Throughput on a shared 2-core machine depends on how much CPU the server happens to get;
// the CPU time workerd spends per request hardly does. So each slice also reads the workerd
// process's user+system time from /proc (Linux only; null elsewhere). It includes everything
// that process does for the request: HTTP, the Worker, and the local D1/KV simulators it hosts.

const seenPids = new Set();
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

function procStat(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const fields = text.slice(close + 2).split(' '); // fields[0] is field 3 (state) of proc(5)
  return { comm, ppid: Number(fields[1]), utime: Number(fields[11]), stime: Number(fields[12]) };
}

/** The workerd process Miniflare just spawned: our child, named workerd, not seen before. */
function newWorkerdChild() {
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry) || seenPids.has(entry)) continue;
      try {
        const stat = procStat(entry);
        if (stat.ppid === process.pid && stat.comm === 'workerd') {
          seenPids.add(entry);
          return entry;
        }
      } catch {
        // the process ended while we looked
      }
    }
  } catch {
    // no /proc: CPU accounting unavailable
  }
  return null;
}

/** CPU milliseconds (user + system) the process has used so far, or null when unknown. */
export function cpuMs(pid) {
  if (!pid) return null;
  try {
    const { utime, stime } = procStat(pid);
    return ((utime + stime) * 1000) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/**
 * CPU milliseconds the process has used, to the nanosecond: the sum of its threads' run time from
 * /proc/<pid>/task/<tid>/schedstat. /proc/<pid>/stat counts in clock ticks (10 ms here), too coarse
 * for one request; falls back to it where schedstat is missing.
 */
export function cpuMsPrecise(pid) {
  if (!pid) return null;
  try {
    let ns = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // the thread ended while we looked
      }
    }
    return ns > 0 ? ns / 1e6 : cpuMs(pid);
  } catch {
    return cpuMs(pid);
  }
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
