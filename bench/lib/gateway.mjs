// The gateway scenarios (issue 13): one small GET answered by a Node origin, sent three ways in
// the same run: straight to the origin, through a bare pass-through Worker, and through
// edge-auth's gateway (ES256 bearer token: verification, revocation read, assertion). The
// gateway's goal is at most 1.3x the pass-through Worker's cost.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const GATEWAY_PREFIX = '/bench-api';
export const ITEM_PATH = '/item';

/** Starts bench/upstream/server.mjs as its own process; resolves { name, url, pid, stop }. */
export function startUpstream(root) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'bench/upstream/server.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('bench upstream did not start within 10 s'));
    }, 10_000);
    child.once('error', reject);
    child.stdout.once('data', (d) => {
      clearTimeout(timer);
      const url = String(d).trim();
      resolve({
        name: 'bench-upstream',
        url,
        pid: String(child.pid),
        stop: () => new Promise((done) => (child.exitCode !== null ? done() : (child.once('exit', () => done()), child.kill('SIGTERM')))),
      });
    });
  });
}

/** The route table the service runs with in the bench: an authenticated and an anonymous route. */
export function gatewayRoutes(upstreamUrl) {
  return JSON.stringify([
    { path: `${GATEWAY_PREFIX}/anon/*`, auth: 'none', upstream: upstreamUrl, strip_prefix: `${GATEWAY_PREFIX}/anon` },
    { path: `${GATEWAY_PREFIX}/*`, auth: 'required', upstream: upstreamUrl, strip_prefix: GATEWAY_PREFIX },
  ]);
}

/** Scenario definitions in run.mjs's shape. */
export function gatewayScenarios({ upstream, passthrough, service, token }) {
  const item = (r) => r.status === 200 && r.json?.id === 'item-1';
  return [
    { id: 'origin-direct', label: 'origin straight (Node, no Worker)', target: upstream, connections: 10, request: { method: 'GET', path: ITEM_PATH }, ok: item },
    { id: 'passthrough', label: 'bare pass-through Worker -> origin', target: passthrough, connections: 10, request: { method: 'GET', path: ITEM_PATH }, ok: item },
    {
      id: 'gateway-anon',
      label: 'edge-auth gateway, auth none -> origin',
      target: service,
      connections: 10,
      request: { method: 'GET', path: `${GATEWAY_PREFIX}/anon${ITEM_PATH}` },
      ok: item,
      reference: 'passthrough',
    },
    {
      id: 'gateway-es256',
      label: 'edge-auth gateway, ES256 bearer -> origin',
      target: service,
      connections: 10,
      request: { method: 'GET', path: `${GATEWAY_PREFIX}${ITEM_PATH}`, headers: { authorization: `Bearer ${token}` } },
      ok: item,
      reference: 'passthrough',
    },
  ];
}
