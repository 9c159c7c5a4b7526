// Soak test with an oracle (docs/resilience.md "Under load"): a mixed workload against
// `wrangler dev` that records every answer, then checks invariants over the record:
//
//   - no 5xx, ever;
//   - every registration exactly once (racing duplicates: one 201, the rest 409; each name listed once);
//   - no forked session: every 200 for one presented refresh token carries the same successor, and
//     two tabs refreshing one token at once both stay signed in;
//   - no refresh accepted after its session ended (D1 decides: no bound);
//   - no access token accepted after its session ended plus the revocation bound.
//
//   npm run soak                         # 240 s (SOAK_SECONDS, SOAK_USERS to change)
//   node test-node/soak.mjs --seconds 30 # the short run in npm test
//
// Throttles: each virtual user sends from its own address (CF-Connecting-IP, which wrangler dev
// takes from the client) and keeps its logins under RL_LOGIN_USER (10 a minute per name); nobody
// sends a wrong password, so the lockout never engages. A 429 is still recorded and reported.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, startServer } from './harness.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const SECONDS = arg('seconds', Number(process.env.SOAK_SECONDS ?? 240));
const USERS = arg('users', Number(process.env.SOAK_USERS ?? 8));
/**
 * The revocation bound locally: KV is strongly consistent in wrangler dev, so what remains is the
 * isolate's own cache of "not revoked" answers (REVOCATION_CACHE_SECONDS = 5, docs/consistency.md),
 * plus a second for iat granularity. In production add KV's ~60 s propagation.
 */
const BOUND_MS = 6_000;
const LOGINS_PER_MINUTE = 8; // under RL_LOGIN_USER's 10
const REFRESHES_PER_MINUTE = 100; // under RL_REFRESH_IP's 120 (each VU has its own address)
const PREFIX = `soak${Date.now().toString(36)}_`;
const ADMIN = { username: `${PREFIX}admin`, password: 'soak admin password 1' };

/** Every answer: what was asked, by whom, when it started and ended, what came back. */
const record = [];
/** Session ends the server confirmed: sid -> when the ending request was sent and answered. */
const ended = new Map();
let counter = 0;

function sidOf(accessToken) {
  return JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url').toString()).sid;
}

async function call(who, op, method, path, { body, token, ip, meta = {} } = {}) {
  const headers = { 'CF-Connecting-IP': ip, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const start = Date.now();
  let status = 0;
  let json;
  try {
    const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
    status = res.status;
    const text = await res.text();
    json = text ? JSON.parse(text) : undefined;
  } catch (err) {
    json = { transport: String(err) };
  }
  const entry = { who, op, status, start, end: Date.now(), ...meta, json };
  record.push(entry);
  return entry;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];

class VirtualUser {
  constructor(n) {
    this.n = n;
    this.username = `${PREFIX}u${n}`;
    this.password = `soak password ${n} v0`;
    this.ip = `2001:db8:${(0x100 + n).toString(16)}::1`; // its own /64
    this.devices = [undefined, undefined];
    this.logins = [];
    this.refreshes = [];
    /** Every session this user started, with when its login was sent and answered. */
    this.sessions = [];
  }

  canLogin(count = 1) {
    const now = Date.now();
    this.logins = this.logins.filter((t) => now - t < 60_000);
    return this.logins.length + count <= LOGINS_PER_MINUTE;
  }

  async register() {
    // Two racing registrations of the same name: exactly one may win.
    const body = { username: this.username, password: this.password };
    const answers = await Promise.all([0, 1].map(() => call(this.username, 'register', 'POST', '/auth/register', { body, ip: this.ip, meta: { name: this.username } })));
    this.id = answers.find((a) => a.status === 201)?.json?.user?.id;
  }

  /** Whether `count` more refresh requests fit this address's budget; if so they are counted. */
  spendRefreshes(count) {
    const now = Date.now();
    this.refreshes = this.refreshes.filter((t) => now - t < 60_000);
    if (this.refreshes.length + count > REFRESHES_PER_MINUTE) return false;
    for (let i = 0; i < count; i++) this.refreshes.push(now);
    return true;
  }

  async login(d) {
    while (!this.canLogin()) {
      if (Date.now() > runUntil) return (this.devices[d] = undefined);
      await sleep(500);
    }
    this.logins.push(Date.now());
    const r = await call(this.username, 'login', 'POST', '/auth/login', { body: { username: this.username, password: this.password }, ip: this.ip });
    if (r.status === 200) {
      const sid = sidOf(r.json.access_token);
      r.sid = sid;
      this.sessions.push({ sid, loginStart: r.start, loginEnd: r.end });
      this.devices[d] = { sid, access: r.json.access_token, refresh: r.json.refresh_token };
    } else this.devices[d] = undefined;
  }

  async ensure(d) {
    if (!this.devices[d]) await this.login(d);
    return this.devices[d];
  }

  async api(d) {
    const dev = await this.ensure(d);
    if (!dev) return;
    const r = await call(this.username, 'api', 'GET', '/api/private', { token: dev.access, ip: this.ip, meta: { sid: dev.sid } });
    if (r.status === 401) this.devices[d] = undefined; // signed out by someone else (demotion)
  }

  async refresh(d, tabs = 1) {
    const dev = await this.ensure(d);
    if (!dev) return;
    if (!this.spendRefreshes(tabs)) return this.api(d);
    const presented = dev.refresh;
    const answers = await Promise.all(
      Array.from({ length: tabs }, () => call(this.username, tabs > 1 ? 'refresh_race' : 'refresh', 'POST', '/auth/refresh', { body: { refresh_token: presented }, ip: this.ip, meta: { sid: dev.sid, presented } })),
    );
    const ok = answers.find((a) => a.status === 200);
    for (const a of answers) if (a.status === 200) a.successor = a.json.refresh_token;
    if (ok) this.devices[d] = { sid: dev.sid, access: ok.json.access_token, refresh: ok.json.refresh_token };
    // Throttled: nothing was rotated, the client keeps its token. Refused: signed out.
    else if (!answers.every((a) => a.status === 429)) this.devices[d] = undefined;
  }

  async logout(d) {
    if (!this.canLogin()) return this.api(d);
    const dev = await this.ensure(d);
    if (!dev) return;
    const r = await call(this.username, 'logout', 'POST', '/auth/logout', { token: dev.access, ip: this.ip, meta: { sid: dev.sid } });
    if (r.status === 204) {
      ended.set(dev.sid, { sent: r.start, decided: r.end });
      await this.probeLater(dev);
    }
    this.devices[d] = undefined;
  }

  async logoutAll() {
    if (!this.canLogin(2)) return this.api(0);
    const dev = await this.ensure(0);
    await this.ensure(1);
    if (!dev) return;
    const live = this.devices.filter(Boolean);
    const r = await call(this.username, 'logout_all', 'POST', '/auth/logout-all', { token: dev.access, ip: this.ip, meta: { sid: dev.sid } });
    if (r.status === 204) for (const s of live) ended.set(s.sid, { sent: r.start, decided: r.end }), await this.probeLater(s);
    this.devices = [undefined, undefined];
  }

  async changePassword() {
    // The password check shares the per-account login budget (RL_LOGIN_USER), and device 1 signs
    // in again afterwards: two entries of the budget.
    if (!this.canLogin(2)) return this.api(0);
    const dev = await this.ensure(0);
    const other = await this.ensure(1);
    if (!dev) return;
    this.logins.push(Date.now());
    const next = this.password.replace(/v\d+$/, `v${++counter}`);
    const r = await call(this.username, 'password', 'POST', '/auth/password', { body: { current_password: this.password, new_password: next }, token: dev.access, ip: this.ip, meta: { sid: dev.sid } });
    if (r.status === 204) {
      this.password = next;
      if (other && other.sid !== dev.sid) {
        ended.set(other.sid, { sent: r.start, decided: r.end });
        await this.probeLater(other);
      }
      this.devices[1] = undefined;
    } else if (r.status === 401) this.devices[0] = undefined;
  }

  /** Uses the ended session's tokens once now and once past the bound (answers judged later). */
  async probeLater(dev) {
    await call(this.username, 'api_after_end', 'GET', '/api/private', { token: dev.access, ip: this.ip, meta: { sid: dev.sid } });
    this.spendRefreshes(1); // the late refresh probe below
    pending.push(
      sleep(BOUND_MS + 500).then(async () => {
        await call(this.username, 'api_after_end', 'GET', '/api/private', { token: dev.access, ip: this.ip, meta: { sid: dev.sid } });
        await call(this.username, 'refresh_after_end', 'POST', '/auth/refresh', { body: { refresh_token: dev.refresh }, ip: this.ip, meta: { sid: dev.sid, presented: dev.refresh } });
      }),
    );
  }

  async run(until) {
    await this.register();
    if (!this.id) return;
    while (Date.now() < until) {
      const roll = Math.random();
      const d = Math.random() < 0.5 ? 0 : 1;
      if (roll < 0.35) await this.api(d);
      else if (roll < 0.6) await this.refresh(d);
      else if (roll < 0.75) await this.refresh(d, 2);
      else if (roll < 0.84) await this.logout(d);
      else if (roll < 0.9) await this.logoutAll();
      else if (roll < 0.95) await this.changePassword();
      else await sleep(200);
      await sleep(50 + Math.random() * 150);
    }
  }
}

const pending = [];
let base = '';
let runUntil = Infinity;
/**
 * Sessions a role change may or may not have ended: their login was still in flight while the
 * change ran. The oracle judges them by neither rule (it cannot know the order D1 saw).
 */
const maybeEnded = new Set();
// (Only the two-tab check needs them: a later end the client saw confirmed is certain either way.)

/** The administrator: changes roles (each change ends the user's sessions) and rotates keys. */
async function administer(users, until) {
  const ip = '2001:db8:ffff::1';
  const login = await call('admin', 'login', 'POST', '/auth/login', { body: ADMIN, ip });
  if (login.status !== 200) throw new Error(`admin login failed: ${login.status} ${JSON.stringify(login.json)}`);
  let token = login.json.access_token;
  let refresh = login.json.refresh_token;
  let rounds = 0;
  while (Date.now() < until) {
    await sleep(1_500 + Math.random() * 1_000);
    if (++rounds % 8 === 0) {
      await call('admin', 'rotate', 'POST', '/admin/keys/rotate', { token, ip });
      continue;
    }
    const u = pick(users.filter((x) => x.id));
    if (!u) continue;
    // Alternate: promote to "editor", then demote; only the admin changes roles, so it knows them.
    const promote = !u.editor;
    const r = await call('admin', promote ? 'promote' : 'demote', 'PATCH', `/admin/users/${u.id}`, { body: { roles: promote ? ['editor'] : [] }, token, ip, meta: { target: u.username } });
    // A change of roles ends every session of the user that existed when it was sent.
    if (r.status === 200) {
      u.editor = promote;
      for (const s of u.sessions) {
        if (ended.has(s.sid)) continue;
        if (s.loginEnd < r.start) ended.set(s.sid, { sent: r.start, decided: r.end });
        else if (s.loginStart < r.end) maybeEnded.add(s.sid);
      }
    }
    if (rounds % 4 === 0) {
      const next = await call('admin', 'refresh', 'POST', '/auth/refresh', { body: { refresh_token: refresh }, ip });
      if (next.status === 200) ({ access_token: token, refresh_token: refresh } = next.json);
    }
  }
  return token;
}

async function listed(token) {
  const names = [];
  let cursor;
  do {
    const q = new URLSearchParams({ username_prefix: PREFIX, limit: '100', ...(cursor ? { cursor } : {}) });
    const res = await fetch(`${base}/admin/users?${q}`, { headers: { Authorization: `Bearer ${token}`, 'CF-Connecting-IP': '2001:db8:ffff::1' } });
    if (res.status !== 200) throw new Error(`listing users: ${res.status}`);
    const body = await res.json();
    names.push(...body.users.map((u) => u.username));
    cursor = body.next_cursor ?? undefined;
  } while (cursor);
  return names;
}

/** The oracle: every invariant over the whole record. */
function check(users, names) {
  const violations = [];
  const count = (label, n) => (counts[label] = n);
  const counts = {};

  const fivexx = record.filter((r) => r.status >= 500 || r.status === 0);
  for (const r of fivexx) violations.push(`5xx or no answer: ${r.op} ${r.status} ${JSON.stringify(r.json)}`);
  count('answers', record.length);
  count('5xx', fivexx.length);
  const throttled = record.filter((r) => r.status === 429);
  count('429', throttled.length);
  for (const op of new Set(throttled.map((r) => r.op))) count(`429 on ${op}`, throttled.filter((r) => r.op === op).length);

  // Every registration exactly once.
  for (const u of users) {
    const regs = record.filter((r) => r.op === 'register' && r.name === u.username).map((r) => r.status).sort();
    if (JSON.stringify(regs) !== JSON.stringify([201, 409])) violations.push(`registration of ${u.username}: ${regs}`);
    const times = names.filter((n) => n === u.username).length;
    if (times !== 1) violations.push(`${u.username} listed ${times} times`);
  }
  count('registrations', users.length);

  // No forked session: one presented token, one successor.
  const successorOf = new Map();
  let forks = 0;
  for (const r of record.filter((x) => x.successor)) {
    const known = successorOf.get(r.presented);
    if (known && known !== r.successor) forks++, violations.push(`forked session ${r.sid}: one token, two successors`);
    successorOf.set(r.presented, r.successor);
  }
  count('refreshes accepted', record.filter((r) => r.successor).length);
  count('forked sessions', forks);

  // Two tabs racing: both answered 200 unless the session was ended meanwhile.
  const races = new Map();
  for (const r of record.filter((x) => x.op === 'refresh_race')) races.set(r.presented, [...(races.get(r.presented) ?? []), r]);
  let racesLost = 0;
  for (const pair of races.values()) {
    const sid = pair[0].sid;
    const end = ended.get(sid);
    if (maybeEnded.has(sid)) continue;
    // A refusal (401) signs the tab out; a throttled answer (429) rotates nothing and is counted apart.
    if (pair.some((r) => r.status === 401) && !(end !== undefined && end.sent <= Math.max(...pair.map((r) => r.end)))) {
      racesLost++;
      violations.push(`two tabs refreshing ${sid}: ${pair.map((r) => r.status)}`);
    }
  }
  count('tab races', races.size);
  count('tab races signed out', racesLost);

  // No refresh accepted after its session ended; no access token past the bound.
  let lateRefresh = 0;
  let lateAccess = 0;
  for (const r of record) {
    const end = r.sid === undefined ? undefined : ended.get(r.sid);
    // Certain ends only (a racing role change is not in `ended`), so every judgment here is sound.
    if (end === undefined) continue;
    // Decided for certain once the ending request was answered (it may have landed earlier).
    const { decided } = end;
    if ((r.op === 'refresh' || r.op === 'refresh_race' || r.op === 'refresh_after_end') && r.status === 200 && r.start > decided) {
      lateRefresh++;
      violations.push(`refresh accepted ${r.start - decided} ms after session ${r.sid} ended`);
    }
    if ((r.op === 'api' || r.op === 'api_after_end') && r.status === 200 && r.start > decided + BOUND_MS) {
      lateAccess++;
      violations.push(`access token accepted ${r.start - decided} ms after session ${r.sid} ended`);
    }
  }
  count('sessions ended', ended.size);
  count('sessions ended by a racing role change (not judged)', maybeEnded.size);
  count('refresh after end accepted', lateRefresh);
  count('access after end+bound accepted', lateAccess);
  const probes = record.filter((r) => r.op === 'api_after_end');
  count('ended-session probes', probes.length);
  for (const op of ['login', 'api', 'refresh', 'refresh_race', 'logout', 'logout_all', 'password', 'promote', 'demote', 'rotate']) {
    count(`op ${op}`, record.filter((r) => r.op === op).length);
  }
  return { counts, violations };
}

async function main() {
  const started = Date.now();
  const persist = mkdtempSync(join(tmpdir(), 'edge-auth-soak-'));
  // The first administrator, as an operator creates one (also applies the migrations).
  const created = spawnSync('npm', ['run', '-s', 'user:create', '--', '--username', ADMIN.username, '--password-stdin', '--role', 'admin', '--persist-to', persist], {
    cwd: ROOT,
    input: ADMIN.password,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, CI: 'true' },
  });
  if (created.status !== 0) throw new Error(`user:create failed: ${created.stderr}`);
  const server = await startServer({ persist });
  base = server.base;
  try {
    console.log(`soak: ${USERS} users + 1 admin for ${SECONDS} s against ${base} (server ready after ${((Date.now() - started) / 1000).toFixed(1)} s)`);
    const until = Date.now() + SECONDS * 1000;
    runUntil = until;
    const users = [];
    const runs = [];
    // Users arrive over the first third of the run: registrations keep happening under load.
    const arrivals = (async () => {
      for (let n = 0; n < USERS; n++) {
        const u = new VirtualUser(n);
        users.push(u);
        runs.push(u.run(until));
        await sleep((SECONDS * 1000) / 3 / USERS);
      }
    })();
    const adminToken = await administer(users, until);
    await arrivals;
    await Promise.all(runs);
    await Promise.all(pending);
    const names = await listed(adminToken);
    const { counts, violations } = check(users, names);
    console.log('soak invariants:');
    for (const [label, n] of Object.entries(counts)) console.log(`  ${label}: ${n}`);
    console.log(`${violations.length === 0 ? 'PASS' : 'FAIL'}: ${violations.length} violations (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    for (const v of violations.slice(0, 30)) console.log(`  ✘ ${v}`);
    process.exitCode = violations.length === 0 ? 0 : 1;
  } finally {
    await server.stop();
    rmSync(persist, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
