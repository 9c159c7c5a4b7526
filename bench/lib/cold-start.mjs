// Cold start: what a fresh isolate costs before and while it answers its first request. Each
// sample starts a new workerd (so a new isolate: module compilation and evaluation happen then),
// on storage seeded beforehand (the D1 signing keys and a session already exist, as in production),
// and times two things: until the Worker is ready, and its first response (configuration parse,
// key ring load from D1 and key import, the request itself). A second request gives the warm time.
// The bare Worker is sampled the same way, interleaved, as the control: what workerd and Miniflare
// cost to start is the same for both, so "service − bare" is the service's own cold start.
//
// Wall time to "ready" is mostly spawning a process, which swings by hundreds of milliseconds on a
// shared machine; the CPU time the workerd process has used by then (from /proc) swings far less,
// and its difference to the bare Worker's is the compile and evaluation of the service's modules.
import { median } from './report.mjs';
import { cpuMsPrecise, startWorker } from './workers.mjs';

async function timed(url, request) {
  const started = performance.now();
  const res = await fetch(url + request.path, { headers: request.headers, signal: AbortSignal.timeout(15_000) });
  await res.text();
  return { ms: performance.now() - started, status: res.status };
}

async function sample(target, compat, track) {
  const started = performance.now();
  const w = await startWorker({ build: target.build, compat, bindings: target.bindings, d1: target.d1, kv: target.kv, ratelimits: target.ratelimits, persistDir: target.persistDir, storageName: target.storageName });
  track?.(w);
  const readyMs = performance.now() - started;
  try {
    const readyCpu = cpuMsPrecise(w.pid);
    const first = await timed(w.url, target.request);
    const firstCpu = cpuMsPrecise(w.pid);
    const warm = await timed(w.url, target.request);
    if (first.status !== 200 || warm.status !== 200) throw new Error(`cold start ${target.id}: answered ${first.status}/${warm.status}`);
    return { readyMs, firstMs: first.ms, warmMs: warm.ms, readyCpuMs: readyCpu, firstCpuMs: readyCpu === null || firstCpu === null ? null : firstCpu - readyCpu };
  } finally {
    await w.mf.dispose();
  }
}

/**
 * `targets`: [{ id, label, build, bindings, d1, kv, ratelimits, persistDir, storageName, request: { path, headers } }];
 * the first one is the control. Samples are interleaved (A B A B ...) so drift hits all alike.
 */
export async function measureColdStart({ targets, compat, samples, track, say }) {
  const runs = Object.fromEntries(targets.map((t) => [t.id, []]));
  for (let i = 0; i < samples; i++) {
    for (const t of targets) runs[t.id].push(await sample(t, compat, track));
    say?.(`cold start sample ${i + 1}/${samples}: ${targets.map((t) => `${t.id} ${(runs[t.id].at(-1).readyMs + runs[t.id].at(-1).firstMs).toFixed(0)} ms`).join(', ')}`);
  }
  const control = targets[0].id;
  const rows = targets.map((t) => {
    const r = runs[t.id];
    const total = r.map((x) => x.readyMs + x.firstMs);
    // Per sample against the control's sample of the same round, then the median.
    const overControl = r.map((x, i) => x.readyMs + x.firstMs - (runs[control][i].readyMs + runs[control][i].firstMs));
    const cpu = (x) => (x.readyCpuMs === null || x.firstCpuMs === null ? null : x.readyCpuMs + x.firstCpuMs);
    const cpuOverControl = r.map((x, i) => (cpu(x) === null || cpu(runs[control][i]) === null ? null : cpu(x) - cpu(runs[control][i])));
    return {
      id: t.id,
      label: t.label,
      readyMs: median(r.map((x) => x.readyMs)),
      firstMs: median(r.map((x) => x.firstMs)),
      warmMs: median(r.map((x) => x.warmMs)),
      totalMs: median(total),
      overControlMs: t.id === control ? null : median(overControl),
      readyCpuMs: median(r.map((x) => x.readyCpuMs)),
      firstCpuMs: median(r.map((x) => x.firstCpuMs)),
      cpuOverControlMs: t.id === control ? null : median(cpuOverControl),
      samples: r,
    };
  });
  return { samples, control, rows };
}
