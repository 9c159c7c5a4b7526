#!/usr/bin/env node
// An example origin behind edge-auth's gateway (docs/gateway.md): a plain Node HTTP server that
// trusts a request only when it carries a valid identity assertion (X-Edge-Auth-Assertion),
// checked with jose against edge-auth's JWKS. The X-Edge-Auth-* identity headers are convenient,
// but only the signed assertion proves the request came through edge-auth, so this server reads
// the caller from the assertion and ignores the plain headers.
//
//   node examples/origin/server.mjs [--port 8789] [--edge-auth http://127.0.0.1:8787]
//                                   [--issuer http://localhost:8787] [--audience http://127.0.0.1:8789]
//
// Routes (as the origin sees them; the gateway strips /app-api):
//   GET /health                          anonymous allowed (an assertion is still required)
//   GET /whoami                          the verified assertion's claims
//   GET|POST /notes, GET|PATCH|DELETE /notes/:id    the caller's notes, in memory
//   GET /admin/notes                     every note (role admin, from the assertion)
//   GET /events?count=3&interval_ms=300  server-sent events, one every interval
//   POST /upload                         streams the body into SHA-256: {bytes, sha256}
//   GET /download?bytes=N                N bytes of a fixed pattern, streamed (see patternDigest)
//   GET /ws (WebSocket)                  echoes every message back
import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { WebSocketServer } from 'ws';

export const ASSERTION_HEADER = 'x-edge-auth-assertion';
export const ASSERTION_TYPE = 'edge-auth-assertion+jwt';
const MAX_JSON_BYTES = 64 * 1024;
const MAX_DOWNLOAD_BYTES = 1024 * 1024 * 1024;
const PATTERN = Buffer.alloc(64 * 1024, 'edge-auth gateway download pattern. ');

/** SHA-256 (hex) of what GET /download?bytes=n sends, computed without sending it. */
export function patternDigest(n) {
  const hash = createHash('sha256');
  for (let left = n; left > 0; left -= PATTERN.length) hash.update(left >= PATTERN.length ? PATTERN : PATTERN.subarray(0, left));
  return hash.digest('hex');
}

function send(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...headers });
  res.end(text);
}

async function readJson(req) {
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_JSON_BYTES) return { error: 'too large' };
    chunks.push(chunk);
  }
  try {
    return { value: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') };
  } catch {
    return { error: 'not JSON' };
  }
}

/**
 * Starts the origin. Resolves to { url, port, requests, close }: `requests` logs every request
 * that reached it (method, path, verdict), for tests that must prove one never arrived.
 * `edgeAuth` and `issuer` may be functions, read at the first request: a test can start the origin
 * before the edge-auth server whose port it does not know yet.
 */
export async function startOrigin(options = {}) {
  const value = (v, fallback) => (typeof v === 'function' ? v() : v) ?? fallback;
  const edgeAuth = () => value(options.edgeAuth, 'http://127.0.0.1:8787');
  const issuer = () => value(options.issuer, 'http://localhost:8787');
  let jwksSet;
  const jwks = (header, token) => (jwksSet ??= createRemoteJWKSet(new URL('/.well-known/jwks.json', edgeAuth()), { cooldownDuration: 5_000 }))(header, token);
  /** @type {Map<string, {id: string, owner: string, text: string, created_at: number}>} */
  const notes = new Map();
  const requests = [];
  const log = options.quiet ? () => {} : (entry) => console.log(JSON.stringify({ origin: true, ...entry }));
  let audience = options.audience;

  /** The verified claims, or a refusal reason. */
  async function caller(req) {
    const assertion = req.headers[ASSERTION_HEADER];
    if (typeof assertion !== 'string' || assertion === '') return { refused: 'no assertion: requests must come through edge-auth' };
    try {
      const { payload } = await jwtVerify(assertion, jwks, { issuer: issuer(), audience, typ: ASSERTION_TYPE, algorithms: ['ES256'], clockTolerance: 5 });
      return { claims: payload };
    } catch (err) {
      return { refused: `invalid assertion (${err.code ?? err.name})` };
    }
  }

  async function route(req, res, url, claims) {
    const path = url.pathname;
    // A signed-in user or one of their API keys acts as that user; an OAuth client or nobody does not.
    const user = claims.subject_type === 'user' || claims.subject_type === 'api_key' ? claims.sub : undefined;
    if (path === '/health' && req.method === 'GET') return send(res, 200, { status: 'ok' });
    if (path === '/whoami' && req.method === 'GET') return send(res, 200, { claims });
    if (!user) return send(res, 403, { error: 'forbidden', message: 'This route needs a signed-in user.' });

    if (path === '/notes' && req.method === 'GET') {
      return send(res, 200, { notes: [...notes.values()].filter((n) => n.owner === user) });
    }
    if (path === '/notes' && req.method === 'POST') {
      const body = await readJson(req);
      const text = body.value?.text;
      if (body.error || typeof text !== 'string' || text.trim() === '' || text.length > 1000) {
        return send(res, 400, { error: 'invalid_request', message: 'Send {"text": "..."} (1 to 1000 characters).' });
      }
      const note = { id: randomUUID(), owner: user, text: text.trim(), created_at: Math.floor(Date.now() / 1000) };
      notes.set(note.id, note);
      return send(res, 201, { note });
    }
    const one = /^\/notes\/([0-9a-f-]{36})$/.exec(path);
    if (one) {
      const note = notes.get(one[1]);
      if (!note || note.owner !== user) return send(res, 404, { error: 'not_found', message: 'No such note.' });
      if (req.method === 'GET') return send(res, 200, { note });
      if (req.method === 'DELETE') {
        notes.delete(note.id);
        res.writeHead(204).end();
        return;
      }
      if (req.method === 'PATCH') {
        const body = await readJson(req);
        const text = body.value?.text;
        if (body.error || typeof text !== 'string' || text.trim() === '' || text.length > 1000) return send(res, 400, { error: 'invalid_request', message: 'Send {"text": "..."}.' });
        note.text = text.trim();
        return send(res, 200, { note });
      }
    }
    if (path === '/admin/notes' && req.method === 'GET') {
      if (!claims.roles?.includes('admin')) return send(res, 403, { error: 'forbidden', message: 'Administrators only.' });
      return send(res, 200, { notes: [...notes.values()] });
    }
    if (path === '/events' && req.method === 'GET') {
      const count = Math.min(Number(url.searchParams.get('count') ?? 3) || 3, 100);
      const interval = Math.min(Number(url.searchParams.get('interval_ms') ?? 300) || 300, 10_000);
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' });
      for (let i = 1; i <= count; i++) {
        res.write(`id: ${i}\nevent: tick\ndata: ${JSON.stringify({ i, at: Date.now() })}\n\n`);
        if (i < count) await new Promise((resolve) => setTimeout(resolve, interval));
      }
      res.end();
      return;
    }
    if (path === '/upload' && req.method === 'POST') {
      // Streamed into the hash chunk by chunk: the body is never held in memory.
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of req) {
        bytes += chunk.length;
        hash.update(chunk);
      }
      return send(res, 200, { bytes, sha256: hash.digest('hex') });
    }
    if (path === '/download' && req.method === 'GET') {
      const total = Number(url.searchParams.get('bytes') ?? 0);
      if (!Number.isInteger(total) || total < 0 || total > MAX_DOWNLOAD_BYTES) return send(res, 400, { error: 'invalid_request', message: 'bytes must be 0 to 1 GiB.' });
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': total });
      let left = total;
      const pump = () => {
        while (left > 0) {
          const chunk = left >= PATTERN.length ? PATTERN : PATTERN.subarray(0, left);
          left -= chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    return send(res, 404, { error: 'not_found', message: 'No such route.' });
  }

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://origin');
    const entry = { at: Date.now(), method: req.method, path: url.pathname, search: url.search, requestId: req.headers['x-request-id'] };
    requests.push(entry);
    const who = await caller(req);
    entry.verdict = who.refused ? 'refused' : 'accepted';
    log({ ...entry, reason: who.refused });
    if (who.refused) {
      req.resume(); // drain, so the client sees the answer rather than a reset
      return send(res, 401, { error: 'unauthorized', message: who.refused });
    }
    try {
      await route(req, res, url, who.claims);
    } catch (err) {
      console.error(`origin: ${err instanceof Error ? err.message : err}`);
      if (!res.headersSent) send(res, 500, { error: 'internal_error', message: 'Internal error.' });
      else res.destroy();
    }
  });

  const sockets = new WebSocketServer({ noServer: true });
  sockets.on('connection', (socket) => socket.on('message', (data, binary) => socket.send(binary ? data : `echo:${data}`)));
  server.on('upgrade', async (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://origin');
    requests.push({ at: Date.now(), method: 'UPGRADE', path: url.pathname, requestId: req.headers['x-request-id'] });
    const who = await caller(req);
    if (who.refused || url.pathname !== '/ws') {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    sockets.handleUpgrade(req, socket, head, (ws) => sockets.emit('connection', ws, req));
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8789, options.host ?? '127.0.0.1', resolve);
  });
  const { port } = server.address();
  audience ??= `http://127.0.0.1:${port}`; // the upstream as the route table names it
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    notes,
    close: () =>
      new Promise((resolve) => {
        for (const ws of sockets.clients) ws.terminate();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8789' },
      'edge-auth': { type: 'string', default: 'http://127.0.0.1:8787' },
      issuer: { type: 'string', default: 'http://localhost:8787' },
      audience: { type: 'string' },
    },
  });
  const origin = await startOrigin({ port: Number(values.port), edgeAuth: values['edge-auth'], issuer: values.issuer, audience: values.audience });
  console.log(`example origin on ${origin.url} (assertions checked against ${values['edge-auth']}/.well-known/jwks.json)`);
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => origin.close().then(() => process.exit(0)));
}
