// A small in-memory stand-in for the edge-auth Worker in cookie mode, plus a static server for
// public/ with the headers of public/_headers. It exists to develop and self-check the browser side
// (public/ and e2e/) without wrangler: `E2E_SERVER=mock npm run test:e2e`, or run it alone with
// `node e2e/mock-server.mjs [port]` and open http://localhost:<port>/.
// It follows the cookie-mode contract in /work/shared/DESIGN.md loosely; the real server is
// what the default e2e run tests. Never use this for anything else.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const PUBLIC_DIR = path.resolve(here, '..', 'public');

/**
 * The headers public/_headers gives every asset (its `/*` block), as Workers Static Assets does.
 * @returns {Promise<Record<string, string>>}
 */
async function assetHeaders() {
  /** @type {Record<string, string>} */
  const headers = {};
  let inAll = false;
  for (const line of (await readFile(path.join(PUBLIC_DIR, '_headers'), 'utf8')).split('\n')) {
    if (!line.trim() || line.trim().startsWith('#')) continue;
    if (!/^\s/.test(line)) inAll = line.trim() === '/*';
    else if (inAll) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
  }
  return headers;
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ts': 'text/plain; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
};

/**
 * Serves a file from public/, or index.html for unknown paths (single-page-application fallback).
 * @param {http.IncomingMessage} req
 * @param {http.ServerResponse} res
 */
export async function serveStatic(req, res) {
  const url = new URL(req.url ?? '/', 'http://x');
  let rel = decodeURIComponent(url.pathname);
  if (rel.endsWith('/')) rel += 'index.html';
  let file = path.resolve(PUBLIC_DIR, '.' + rel);
  if (!file.startsWith(PUBLIC_DIR + path.sep) || path.basename(file) === '_headers') {
    file = path.join(PUBLIC_DIR, 'index.html');
  }
  let body;
  try {
    body = await readFile(file);
  } catch {
    file = path.join(PUBLIC_DIR, 'index.html');
    body = await readFile(file);
  }
  res.writeHead(200, {
    ...(await assetHeaders()),
    'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
    'Cache-Control': 'no-cache',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

const sha = (s) => createHash('sha256').update(s).digest('base64url');
const token = () => randomBytes(32).toString('base64url');

/**
 * @param {{ port?: number, host?: string, accessTtl?: number, grace?: number, origins?: string[] }} [opts]
 * @returns {Promise<{ port: number, close: () => Promise<void> }>}
 */
export async function startMockServer(opts = {}) {
  const accessTtl = opts.accessTtl ?? 5;
  const grace = opts.grace ?? 10;
  const refreshTtl = 3600;
  /** @type {Map<string, any>} */ const users = new Map(); // lower(username) -> user
  /** @type {Map<string, any>} */ const sessions = new Map(); // id -> session
  /** @type {Map<string, any>} */ const refreshes = new Map(); // sha(refresh) -> { sid, used, successor, usedAt }
  /** @type {Map<string, any>} */ const accesses = new Map(); // access -> { sid, exp }
  const now = () => Math.floor(Date.now() / 1000);

  const publicUser = (u) => ({ id: u.id, username: u.username, email: u.email, roles: u.roles, created_at: u.created_at });

  function json(res, status, body, headers = {}) {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  }
  const fail = (res, status, error, headers = {}) => json(res, status, { error, message: error.replace(/_/g, ' ') }, headers);

  function cookies(req) {
    /** @type {Record<string, string>} */ const out = {};
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const i = part.indexOf('=');
      if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
    }
    return out;
  }

  function issue(res, session, status = 200) {
    const access = token();
    const refresh = token();
    const csrf = token();
    accesses.set(access, { sid: session.id, exp: now() + accessTtl });
    refreshes.set(sha(refresh), { sid: session.id, used: false });
    session.last_used_at = new Date().toISOString();
    const user = [...users.values()].find((u) => u.id === session.userId);
    res.setHeader('Set-Cookie', [
      `__Host-edge_access=${access}; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=${refreshTtl}`,
      `__Secure-edge_refresh=${refresh}; HttpOnly; Secure; SameSite=Strict; Path=/auth/refresh; Max-Age=${refreshTtl}`,
      `__Host-edge_csrf=${csrf}; Secure; SameSite=Strict; Path=/; Max-Age=${refreshTtl}`,
    ]);
    json(res, status, { token_type: 'Bearer', expires_in: accessTtl, refresh_expires_in: refreshTtl, user: publicUser(user) });
    return refresh;
  }

  function clearCookies(res) {
    res.setHeader('Set-Cookie', [
      '__Host-edge_access=; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=0',
      '__Secure-edge_refresh=; HttpOnly; Secure; SameSite=Strict; Path=/auth/refresh; Max-Age=0',
      '__Host-edge_csrf=; Secure; SameSite=Strict; Path=/; Max-Age=0',
    ]);
  }

  function csrfOk(req, origin) {
    const c = cookies(req);
    const allowed = opts.origins ?? [origin];
    return Boolean(c['__Host-edge_csrf']) && req.headers['x-csrf-token'] === c['__Host-edge_csrf'] &&
      allowed.includes(String(req.headers.origin));
  }

  /** @returns {{ session: any, user: any } | { error: string }} */
  function authenticate(req) {
    const c = cookies(req);
    const access = c['__Host-edge_access'];
    if (!access) return { error: c['__Host-edge_csrf'] ? 'invalid_token' : 'unauthorized' };
    const rec = accesses.get(access);
    if (!rec || rec.exp <= now()) return { error: 'invalid_token' };
    const session = sessions.get(rec.sid);
    if (!session || session.revoked) return { error: 'invalid_token' };
    const user = [...users.values()].find((u) => u.id === session.userId);
    return { session, user };
  }

  async function body(req) {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    try {
      return JSON.parse(raw || '{}');
    } catch {
      return null;
    }
  }

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      const p = url.pathname;
      const origin = `http://${req.headers.host}`;
      const method = req.method ?? 'GET';
      const api = p === '/health' || /^\/(api|auth|admin|\.well-known)\//.test(p);
      if (!api) return await serveStatic(req, res);
      if (method === 'OPTIONS') return res.writeHead(204).end(); // no CORS grants at all
      if (p === '/health') return json(res, 200, { status: 'ok' });

      if (p === '/auth/register' && method === 'POST') {
        const b = await body(req);
        if (!b || typeof b.username !== 'string' || typeof b.password !== 'string' || b.password.length < 8)
          return fail(res, 400, 'invalid_request');
        const key = b.username.toLowerCase();
        if (users.has(key)) return fail(res, 409, 'username_taken');
        const user = { id: randomUUID(), username: b.username, email: b.email ?? null, roles: [], created_at: new Date().toISOString(), password: b.password };
        users.set(key, user);
        return json(res, 201, { user: publicUser(user) });
      }
      if (p === '/auth/login' && method === 'POST') {
        const b = await body(req);
        const user = b && users.get(String(b.username).toLowerCase());
        if (!user || user.password !== b.password) return fail(res, 401, 'invalid_credentials');
        const session = { id: randomUUID(), userId: user.id, created_at: new Date().toISOString(), last_used_at: null, user_agent: req.headers['user-agent'] ?? null, ip: '127.0.0.1', revoked: false };
        sessions.set(session.id, session);
        return issue(res, session);
      }
      if (p === '/auth/refresh' && method === 'POST') {
        if (!csrfOk(req, origin)) return fail(res, 403, 'csrf_failed');
        const rt = cookies(req)['__Secure-edge_refresh'];
        const rec = rt && refreshes.get(sha(rt));
        const session = rec && sessions.get(rec.sid);
        if (!rec || !session || session.revoked) {
          clearCookies(res);
          return fail(res, 401, 'invalid_grant');
        }
        if (rec.used) {
          if (now() - rec.usedAt > grace) {
            session.revoked = true;
            clearCookies(res);
            return fail(res, 401, 'invalid_grant');
          }
        }
        rec.used = true;
        rec.usedAt ??= now();
        return issue(res, session);
      }

      const who = authenticate(req);
      if ('error' in who) return fail(res, 401, who.error, { 'WWW-Authenticate': `Bearer error="${who.error}"` });
      if (!['GET', 'HEAD'].includes(method) && !csrfOk(req, origin)) return fail(res, 403, 'csrf_failed');
      const { session, user } = who;
      session.last_used_at = new Date().toISOString();

      if (p === '/auth/me' && method === 'GET') return json(res, 200, { user: publicUser(user) });
      if (p === '/api/private' && method === 'GET')
        return json(res, 200, { message: `hello ${user.username}`, user: { id: user.id, username: user.username, roles: user.roles } });
      if (p === '/auth/sessions' && method === 'GET') {
        const list = [...sessions.values()]
          .filter((s) => s.userId === user.id && !s.revoked)
          .map((s) => ({ id: s.id, created_at: s.created_at, last_used_at: s.last_used_at, user_agent: s.user_agent, ip: s.ip, current: s.id === session.id }));
        return json(res, 200, { sessions: list });
      }
      const m = /^\/auth\/sessions\/([^/]+)$/.exec(p);
      if (m && method === 'DELETE') {
        const target = sessions.get(decodeURIComponent(m[1]));
        if (!target || target.userId !== user.id || target.revoked) return fail(res, 404, 'not_found');
        target.revoked = true;
        return json(res, 204);
      }
      if (p === '/auth/logout' && method === 'POST') {
        session.revoked = true;
        clearCookies(res);
        return json(res, 204);
      }
      if (p === '/auth/logout-all' && method === 'POST') {
        for (const s of sessions.values()) if (s.userId === user.id) s.revoked = true;
        clearCookies(res);
        return json(res, 204);
      }
      return fail(res, 404, 'not_found');
    } catch (err) {
      console.error(err);
      if (!res.headersSent) fail(res, 500, 'internal_error');
    }
  });
  await new Promise((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve(undefined)));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { port } = await startMockServer({ port: Number(process.argv[2] ?? 8788), accessTtl: Number(process.env.ACCESS_TOKEN_TTL ?? 30) });
  console.log(`mock edge-auth on http://localhost:${port}/ (Ctrl-C to stop)`);
}
