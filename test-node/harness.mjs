// The one way every node-side suite (test-node/*.test.mjs, scripts/user-create.test.ts, the e2e,
// the soak) runs edge-auth: `npm run dev` (secrets, migrations, wrangler dev) on a free port with
// its own state directory, ready once /health answers, stopped by process group so npm, the dev
// script, wrangler and both workerd processes go together. Every wait has a deadline.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.mjs';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

const STOP_TIMEOUT_MS = 10_000;
const POLL_MS = 250;

/** Process groups of the servers this process started and has not seen exit. */
const live = new Set();
let hooked = false;

/**
 * Ctrl-C or a CI timeout (SIGINT/SIGTERM) must not leave servers behind: kill their groups. Node
 * exits on these signals only while nobody listens for them, so exit here too unless the caller
 * has its own handler (e2e/run.mjs does, and stops everything itself).
 */
function hookSignals() {
  if (hooked) return;
  hooked = true;
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
    process.on(signal, () => {
      for (const pgid of live) {
        try {
          process.kill(-pgid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      if (process.listenerCount(signal) === 1) process.exit(code);
    });
  }
}

/**
 * @typedef {object} ServerOptions
 * @property {string} [cwd] project directory (default: this repository)
 * @property {string} [persist] wrangler state directory (default: a fresh temporary one, removed on stop)
 * @property {Record<string, string>} [vars] `--var NAME:VALUE` overrides
 * @property {(port: number) => Record<string, string>} [varsFor] overrides that need the port (the issuer)
 * @property {string} [logFile] write the server's output there instead of keeping it in memory
 * @property {number} [startTimeoutMs] how long /health may take (the first build on 2 shared cores is slow)
 * @property {string[]} [args] further `wrangler dev` arguments
 */

/**
 * @typedef {object} Server
 * @property {string} base http://127.0.0.1:<port>
 * @property {number} port
 * @property {string} persist
 * @property {() => string} output what the server printed (empty with logFile)
 * @property {() => boolean} running
 * @property {() => Promise<void>} stop
 */

/**
 * Starts `npm run dev` and resolves once GET /health answers 200.
 * @param {ServerOptions} [options]
 * @returns {Promise<Server>}
 */
export async function startServer(options = {}) {
  try {
    return await startServerOnce(options);
  } catch (err) {
    // A port freePort() found free can be taken by another process before wrangler binds it (seen
    // once in CI, between two suites): that start is retried once, on fresh ports.
    let said = err instanceof Error ? err.message : String(err);
    if (options.logFile) {
      try {
        said += readFileSync(options.logFile, 'utf8');
      } catch {
        // no log
      }
    }
    if (!/Address already in use|EADDRINUSE/.test(said)) throw err;
    return startServerOnce(options);
  }
}

/** @param {ServerOptions} options @returns {Promise<Server>} */
async function startServerOnce(options) {
  const cwd = options.cwd ?? ROOT;
  const ownState = options.persist === undefined;
  const persist = options.persist ?? mkdtempSync(join(tmpdir(), 'edge-auth-state-'));
  const port = await freePort();
  const inspector = await freePort();
  const vars = { ...(options.vars ?? {}), ...(options.varsFor?.(port) ?? {}) };
  const args = [
    'run', 'dev', '--',
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--inspector-port', String(inspector),
    '--persist-to', persist,
    '--show-interactive-dev-session=false',
    ...Object.entries(vars).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
    ...(options.args ?? []),
  ];
  let output = '';
  const logFd = options.logFile ? openSync(options.logFile, 'w') : undefined;
  const child = spawn('npm', args, {
    cwd,
    detached: true, // its own process group: stop() reaches every child
    stdio: ['ignore', logFd ?? 'pipe', logFd ?? 'pipe'],
    // CI: never prompt. No telemetry, no Request.cf download: wrangler talks only to 127.0.0.1.
    env: { ...process.env, CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0', WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
  });
  if (logFd !== undefined) closeSync(logFd);
  hookSignals();
  live.add(child.pid);
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  let alive = true;
  const exited = new Promise((resolve) =>
    child.on('exit', () => {
      live.delete(child.pid);
      resolve((alive = false));
    }),
  );

  const signal = (name) => {
    try {
      process.kill(-child.pid, name);
    } catch {
      // already gone
    }
  };
  const onExit = () => signal('SIGKILL'); // the test process dying must not leave a server behind
  process.on('exit', onExit);

  let stopped;
  const stop = () =>
    (stopped ??= (async () => {
      if (alive) {
        signal('SIGTERM');
        let timer;
        const late = await Promise.race([exited.then(() => false), new Promise((r) => (timer = setTimeout(r, STOP_TIMEOUT_MS, true)))]);
        clearTimeout(timer);
        if (late) {
          signal('SIGKILL');
          await exited;
        }
      }
      process.off('exit', onExit);
      if (ownState) rmSync(persist, { recursive: true, force: true });
    })());

  const base = `http://127.0.0.1:${port}`;
  const timeout = options.startTimeoutMs ?? 150_000;
  const deadline = Date.now() + timeout;
  for (;;) {
    if (!alive) {
      await stop();
      throw new Error(`npm run dev exited before serving${options.logFile ? `; see ${options.logFile}` : `:\n${output}`}`);
    }
    try {
      const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`/health did not answer 200 within ${timeout} ms${options.logFile ? `; see ${options.logFile}` : `:\n${output}`}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return { base, port, persist, output: () => output, running: () => alive, stop };
}

/**
 * Polls `check` until it returns a truthy value (returned) or `ms` pass (throws `what`): waiting for
 * a condition, never for a fixed time.
 * @template T
 * @param {() => Promise<T> | T} check
 * @param {{ ms?: number, every?: number, what?: string }} [options]
 * @returns {Promise<T>}
 */
export async function waitFor(check, { ms = 10_000, every = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, every));
  }
}
