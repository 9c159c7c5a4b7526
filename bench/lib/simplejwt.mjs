// The simplejwt comparison target (bench/simplejwt/app.py) under gunicorn: started only where
// Debian's python3-djangorestframework-simplejwt and gunicorn are installed (the bench skips it
// otherwise). Its CPU is the master's plus every worker's, from /proc.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const PYTHON = '/usr/bin/python3';
const GUNICORN = '/usr/bin/gunicorn';

export function simplejwtAvailable() {
  const r = spawnSync(PYTHON, ['-c', 'import rest_framework_simplejwt, django, gunicorn'], { stdio: 'ignore' });
  return r.status === 0;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function procTicks(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}

/** gunicorn with `workers` sync-free threaded workers (keep-alive, like the other targets). */
export async function startSimplejwt({ root, secret, issuer, audience, workers = 2, logFile }) {
  const port = await freePort();
  const out = openSync(logFile, 'a');
  const child = spawn(
    GUNICORN,
    ['--chdir', join(root, 'bench/simplejwt'), '--bind', `127.0.0.1:${port}`, '--workers', String(workers), '--worker-class', 'gthread', '--threads', '4', '--keep-alive', '5', '--log-level', 'warning', 'app:application'],
    {
      env: { PATH: '/usr/bin:/bin', PYTHONDONTWRITEBYTECODE: '1', JWT_SECRET: secret, JWT_ISSUER: issuer, JWT_AUDIENCE: audience, DJANGO_SECRET: randomBytes(32).toString('hex') },
      stdio: ['ignore', out, out],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`${url}/api/private`, { signal: AbortSignal.timeout(1000) });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const clk = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;
  const cpu = () => {
    try {
      let ticks = procTicks(child.pid).ticks;
      for (const entry of readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        try {
          const s = procTicks(entry);
          if (s.ppid === child.pid) ticks += s.ticks;
        } catch {
          // gone
        }
      }
      return (ticks * 1000) / clk;
    } catch {
      return null;
    }
  };
  return {
    name: 'simplejwt',
    url,
    pid: null,
    cpu,
    mf: { dispose: async () => child.kill('SIGTERM') },
  };
}
