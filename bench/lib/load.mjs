// One time-bounded load slice with autocannon, on 127.0.0.1 only.
import autocannon from 'autocannon';

/**
 * Nearest-rank percentile of an ascending array (ms).
 * Why our own: autocannon's histogram stores whole milliseconds, and most routes here answer in
 * 1-3 ms, where whole milliseconds cannot tell two targets apart. Its 'response' event carries
 * the exact duration, which we keep instead.
 */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/**
 * Drive `url` for `duration` seconds with `connections` keep-alive connections, one request in
 * flight on each (no pipelining: clients of an auth service do not pipeline).
 *
 * `request` is autocannon's request shape (method, path, headers, body, setupRequest, onResponse).
 * Returns 2xx throughput and latencies; every other outcome (non-2xx, socket error, timeout)
 * is an error, counted by kind.
 */
export async function loadSlice({ url, request, connections, duration, timeoutSeconds = 10 }) {
  if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(url)) throw new Error(`refusing to load ${url}: 127.0.0.1 only`);
  const latencies = [];
  const instance = autocannon({
    url,
    connections,
    pipelining: 1,
    duration,
    timeout: timeoutSeconds,
    requests: [request],
  });
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
  });
  const result = await instance;
  latencies.sort((a, b) => a - b);
  const ok = latencies.length;
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, { count }]) => [code, Number(count)]));
  return {
    duration: result.duration,
    ok,
    rps: ok / result.duration,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    mean: ok ? latencies.reduce((a, b) => a + b, 0) / ok : null,
    errors: result.non2xx + result.errors,
    non2xx: result.non2xx,
    socketErrors: result.errors - result.timeouts,
    timeouts: result.timeouts,
    statusCodes,
    latencies,
  };
}
