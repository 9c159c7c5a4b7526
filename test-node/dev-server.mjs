// Starts `npm run dev` (migrations + wrangler dev) from the working tree on a free port with a
// fresh state directory, for node-side suites that need a running Worker (the gateway test, the
// gateway e2e scenario). Its own process group, so npm, wrangler and workerd stop together;
// every wait is bounded.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './fixtures.mjs';
import { freePort } from './ports.mjs';

const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 10_000;

/**
 * @param {{ vars?: Record<string, string>, port?: number }} [options] `--var NAME:VALUE` overrides
 * @returns {Promise<{ base: string, port: number, stop: () => Promise<void>, output: () => string }>}
 */
export async function startDev(options = {}) {
  const port = options.port ?? (await freePort());
  const inspector = await freePort();
  const state = mkdtempSync(join(tmpdir(), 'edge-auth-devserver-'));
  const vars = Object.entries(options.vars ?? {}).flatMap(([name, value]) => ['--var', `${name}:${value}`]);
  const child = spawn('npm', ['run', 'dev', '--', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector), '--persist-to', state, '--show-interactive-dev-session=false', ...vars], {
    cwd: ROOT,
    detached: true,
    env: { ...process.env, CI: 'true', NO_COLOR: '1', WRANGLER_SEND_METRICS: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let running = true;
  exited.then(() => (running = false));

  const stop = async () => {
    if (running) {
      try {
        process.kill(-child.pid, 'SIGTERM');
        let timer;
        const timeout = new Promise((resolve) => (timer = setTimeout(resolve, STOP_TIMEOUT_MS, 'timeout')));
        const outcome = await Promise.race([exited, timeout]);
        clearTimeout(timer);
        if (outcome === 'timeout') {
          process.kill(-child.pid, 'SIGKILL');
          await exited;
        }
      } catch {
        // already gone
      }
    }
    rmSync(state, { recursive: true, force: true });
  };

  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (!running) {
      await stop();
      throw new Error(`npm run dev exited before serving:\n${output}`);
    }
    try {
      const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return { base, port, stop, output: () => output };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`/health did not answer within ${START_TIMEOUT_MS} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
