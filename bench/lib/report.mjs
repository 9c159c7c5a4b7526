// Turning slices into numbers people can compare: per-scenario summaries, ratios measured round
// by round, the markdown table, and the README block between the bench markers.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { percentile } from './load.mjs';

export const README_START = '<!-- bench:start -->';
export const README_END = '<!-- bench:end -->';

export function median(values) {
  const v = values.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/**
 * One scenario over all rounds. Throughput is the median of the rounds (robust to one noisy
 * slice); latency percentiles come from all 2xx responses of all rounds pooled together.
 */
export function summarize(scenario, slices) {
  const pooled = slices.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const statusCodes = {};
  for (const s of slices) for (const [code, n] of Object.entries(s.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + n;
  return {
    id: scenario.id,
    label: scenario.label,
    target: scenario.target,
    method: scenario.request.method ?? 'GET',
    path: scenario.request.path,
    connections: scenario.connections,
    rps: median(slices.map((s) => s.rps)),
    cpuMsPerRequest: median(slices.map((s) => s.cpuMsPerRequest)),
    p50: percentile(pooled, 50),
    p99: percentile(pooled, 99),
    requests: pooled.length,
    errors: slices.reduce((n, s) => n + s.errors, 0),
    statusCodes,
    rounds: slices.map(({ latencies, ...rest }) => rest),
  };
}

/**
 * Ratio of two scenarios' throughput, computed per round and then the median taken: both slices
 * of a round ran back to back, so slow drift of the machine (thermal, noisy neighbours) affects
 * numerator and denominator alike and cancels.
 */
export function ratio(a, b, metric = 'rps') {
  const n = Math.min(a.rounds.length, b.rounds.length);
  const perRound = [];
  for (let i = 0; i < n; i++) {
    const x = a.rounds[i][metric];
    const y = b.rounds[i][metric];
    perRound.push(x != null && y > 0 ? x / y : null);
  }
  return { median: median(perRound), perRound };
}

const fmt = {
  rps: (x) => (x === null ? '-' : x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1)),
  ms: (x) => (x === null ? '-' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)),
  // Two significant digits below 0.1, so login's tiny ratio does not print as 0.00×.
  ratio: (r) => (r?.median == null ? '' : `${r.median >= 0.1 ? r.median.toFixed(2) : r.median.toPrecision(2)}×`),
  kib: (bytes) => `${(bytes / 1024).toFixed(1)} KiB`,
};

export function scenarioTable(results) {
  const lines = [
    '| scenario | conns | req/s | p50 ms | p99 ms | errors | server CPU µs/req | req/s vs bare | req/s vs reference | CPU/req vs reference | req/s vs limit | CPU/req vs limit | CPU/req vs bare | CPU/req vs simplejwt |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const s of results.scenarios) {
    const name = `${s.label} (\`${s.method} ${s.path}\`)`;
    const cpu = s.cpuMsPerRequest == null ? '-' : Math.round(s.cpuMsPerRequest * 1000).toLocaleString('en-US');
    lines.push(
      `| ${name} | ${s.connections} | ${fmt.rps(s.rps)} | ${fmt.ms(s.p50)} | ${fmt.ms(s.p99)} | ${s.errors} | ${cpu} | ${s.id === 'bare' ? '1.00×' : fmt.ratio(s.vsBare)} | ${fmt.ratio(s.vsReference)} | ${fmt.ratio(s.cpuVsReference)} | ${fmt.ratio(s.vsLimit)} | ${fmt.ratio(s.cpuVsLimit)} | ${s.id === 'bare' ? '1.00×' : fmt.ratio(s.cpuVsBare)} | ${fmt.ratio(s.cpuVsSimplejwt)} |`,
    );
  }
  return lines.join('\n');
}

export function bundleLine(bundle) {
  const verdict = bundle.withinBudget ? 'within' : '**OVER**';
  const parts = (bundle.composition ?? []).slice(0, 5).map((c) => `${c.origin} ${fmt.kib(c.bytes)}`);
  const largest = parts.length ? ` Largest parts of the JS (raw): ${parts.join(', ')}.` : '';
  return `Worker bundle (${bundle.modules.length} modules, as uploaded): ${fmt.kib(bundle.gzipBytes)} gzip (${fmt.kib(bundle.rawBytes)} raw); budget ${fmt.kib(bundle.budgetBytes)} gzip: ${verdict}.${largest}`;
}

export function coldStartTable(cold) {
  if (!cold) return '';
  const lines = [
    `Cold start (${cold.samples} fresh workerd isolates per target, interleaved, on storage seeded beforehand; medians). "ready" is Miniflare starting workerd, which compiles and evaluates the Worker's modules; the first response adds the configuration parse, the key ring load from D1 and the key import. CPU is the workerd process's (from /proc), steadier than wall time on a shared machine; "over control" subtracts the bare Worker's sample of the same round, leaving the Worker's own cost:`,
    '',
    '| target | CPU to ready ms | CPU of first response ms | cold CPU over control ms | first response ms | warm response ms | wall to ready ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of cold.rows) {
    lines.push(`| ${r.label} | ${fmt.ms(r.readyCpuMs)} | ${fmt.ms(r.firstCpuMs)} | ${r.cpuOverControlMs == null ? '' : fmt.ms(r.cpuOverControlMs)} | ${fmt.ms(r.firstMs)} | ${fmt.ms(r.warmMs)} | ${fmt.ms(r.readyMs)} |`);
  }
  return lines.join('\n');
}

export function storageTable(storage) {
  if (!storage) return '';
  const keys = ['rounds.d1', 'rounds.storage', 'kv.get', 'kv.put', 'kv.delete', 'd1.queries', 'd1.batches', 'writes.response', 'writes.deferred', 'subtle.importKey', 'subtle.sign', 'subtle.verify', 'subtle.digest', 'subtle.decrypt'];
  const names = {
    'rounds.d1': 'sequential D1 round trips',
    'rounds.storage': 'sequential storage round trips (D1 + KV)',
    'writes.response': 'storage writes before the response',
    'writes.deferred': 'storage writes after it (waitUntil)',
  };
  const lines = [
    `Storage and crypto calls per request (instrumented build, ${storage.requests} sequential requests each after one warm-up; not timed). A sequential round trip is a storage call started while no other was in flight: calls made together (Promise.all, one D1 batch) count once, so it is the critical path that production latency is made of:`,
    '',
    `| scenario | ${keys.map((k) => names[k] ?? k).join(' | ')} |`,
    `| --- | ${keys.map(() => '---:').join(' | ')} |`,
  ];
  for (const row of storage.rows) {
    lines.push(`| ${row.id} | ${keys.map((k) => (row.perRequest[k] ? row.perRequest[k].toFixed(2).replace(/\.00$/, '') : '0')).join(' | ')} |`);
  }
  return lines.join('\n');
}

export function markdown(results) {
  const m = results.machine;
  const parts = [
    `### edge-auth benchmark`,
    '',
    `- date: ${results.date}`,
    `- machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB RAM, ${m.os}; Node ${m.node}; 1-min load average ${m.loadAverage1mAtStart} at start (other work on the machine adds noise)`,
    `- runtime: workerd ${results.versions.workerd} via miniflare ${results.versions.miniflare} (direct sockets), load: autocannon ${results.versions.autocannon} on 127.0.0.1`,
    `- command: \`${results.command}\` (commit ${results.git.commit}${results.git.dirty ? ', uncommitted changes' : ''})`,
    `- server CPU: user+system time of the target's workerd process per answered request (includes the local D1/KV simulators it hosts), median of rounds; steadier than req/s when other work shares the cores`,
    `- method: ${results.settings.rounds} interleaved rounds of ${results.settings.duration} s per scenario (order reversed every other round), after ${results.settings.warmup} s warm-up each; req/s is the median of the rounds, ratios are medians of per-round ratios, latencies pool all rounds' 2xx responses`,
    '',
    scenarioTable(results),
    '',
    bundleLine(results.bundle),
    '',
  ];
  if (results.coldStart) parts.push(coldStartTable(results.coldStart), '');
  if (results.storage) parts.push(storageTable(results.storage), '');
  parts.push(`Total bench time: ${results.totalSeconds.toFixed(0)} s. Absolute numbers depend on this 2-core machine, which also runs the load generator; compare ratios.`);
  return parts.join('\n') + '\n';
}

/** The compact block for the top-level README: context line, table, bundle size. */
export function readmeBlock(results) {
  const m = results.machine;
  return [
    `Measured by \`npm run bench\` ([bench/README.md](bench/README.md)) on ${results.date.slice(0, 10)}: built bundle in workerd (Miniflare, local D1/KV), autocannon on 127.0.0.1, ${m.cpu}, ${m.cores} cores shared by server and load generator (1-min load average ${m.loadAverage1mAtStart} at start, other work included). Absolute req/s vary between runs; compare the ratios (medians of per-round ratios over ${results.settings.rounds} interleaved rounds). Full report: [bench/results/latest.md](bench/results/latest.md).`,
    '',
    scenarioTable(results),
    '',
    bundleLine(results.bundle),
    ...(results.coldStart ? ['', coldStartTable(results.coldStart)] : []),
    ...(results.storage ? ['', storageTable(results.storage)] : []),
  ].join('\n');
}

/**
 * Replace what lies between the README markers. Touches nothing else and does nothing at all
 * (returns false) unless both markers exist, in order.
 */
export function updateReadme(readmePath, block) {
  if (!existsSync(readmePath)) return false;
  const text = readFileSync(readmePath, 'utf8');
  const start = text.indexOf(README_START);
  const end = text.indexOf(README_END, start + README_START.length);
  if (start < 0 || end < 0) return false;
  const updated = `${text.slice(0, start + README_START.length)}\n${block.trim()}\n${text.slice(end)}`;
  if (updated !== text) writeFileSync(readmePath, updated);
  return true;
}
