// The D1 statements a login and a refresh write, taken from src/db (not copied), run in a loop
// inside the Worker so that neither HTTP nor the password hash is measured: only D1.
//   GET /seed?users=N           N users with a stored hash (and one session each)
//   GET /run?op=login|refresh&n=N&c=C   N operations over C concurrent lanes; JSON timings
import { admitLoginAttempt } from '../../src/db/lockout';
import { commitLogin } from '../../src/db/login';
import { insertSession, rotateSession } from '../../src/db/sessions';
import { insertUser } from '../../src/db/users';

interface Env {
  DB: D1Database;
}

const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA';
const DAY = 86_400;
let seeded: { id: string; key: string; session: string; current: string }[] = [];

const hex = () => crypto.randomUUID().replace(/-/g, '') + crypto.randomUUID().replace(/-/g, '');

async function login(db: D1Database, u: (typeof seeded)[number], now: number): Promise<number> {
  // The D1 work of services/auth.ts login, in order: the lockout's admission (one batch), then one
  // batch that resets the count, creates the session and writes the audit row (db/login.ts).
  await admitLoginAttempt(db, u.key, now);
  const session = crypto.randomUUID();
  const audit = { event: 'login' as const, actorId: u.id, subjectId: u.id, ip: '203.0.113.9', userAgent: 'bench', requestId: session };
  await commitLogin(
    db,
    {
      session: { id: session, userId: u.id, refreshHash: hex(), refreshExpiresAt: now + 14 * DAY, expiresAt: now + 30 * DAY, ip: '203.0.113.9', userAgent: 'bench' },
      verified: { passwordHash: HASH, roles: '[]' },
      success: { ...audit, outcome: 'success' },
      failure: { ...audit, outcome: 'failure' },
    },
    now,
  );
  return 2; // round trips, both writing
}

async function refresh(db: D1Database, u: (typeof seeded)[number], now: number): Promise<number> {
  // The D1 work of a refresh (tokens/refresh.ts): one batch, the rotation and the user read.
  const next = hex();
  const { rotated } = await rotateSession(db, { id: u.session, presentedHash: u.current, successorHash: next, refreshTtl: 14 * DAY, meta: { ip: '203.0.113.9', userAgent: 'bench' } }, now);
  if (!rotated) throw new Error('rotation refused');
  u.current = next;
  return 1;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const now = Math.floor(Date.now() / 1000);
    if (url.pathname === '/seed') {
      const n = Number(url.searchParams.get('users') ?? 16);
      seeded = [];
      for (let i = 0; i < n; i++) {
        const key = `bench_${crypto.randomUUID().slice(0, 8)}`;
        const row = await insertUser(env.DB, { username: key, usernameKey: key, usernameSkeleton: key, email: null, passwordHash: HASH, roles: [] }, now);
        if (!row) throw new Error('seed failed');
        const session = crypto.randomUUID();
        const current = hex();
        await insertSession(env.DB, { id: session, userId: row.id, refreshHash: current, refreshExpiresAt: now + 14 * DAY, expiresAt: now + 30 * DAY, ip: null, userAgent: null }, { passwordHash: HASH, roles: '[]' }, now);
        seeded.push({ id: row.id, key, session, current });
      }
      return Response.json({ users: seeded.length });
    }
    if (url.pathname === '/run') {
      const op = url.searchParams.get('op') === 'refresh' ? refresh : login;
      const n = Number(url.searchParams.get('n') ?? 200);
      const lanes = Math.min(Number(url.searchParams.get('c') ?? 1), seeded.length);
      let done = 0;
      let trips = 0;
      const started = performance.now();
      // performance.now() advances with I/O in workerd, so it times the D1 round trips.
      await Promise.all(
        Array.from({ length: lanes }, async (_, lane) => {
          while (done < n) {
            done++;
            const w = await op(env.DB, seeded[lane]!, now); // not `writes += await`: lanes interleave
            trips += w;
          }
        }),
      );
      const ms = performance.now() - started;
      return Response.json({ op: url.searchParams.get('op'), n: done, lanes, ms, opsPerSecond: (done / ms) * 1000, roundTripsPerSecond: (trips / ms) * 1000 });
    }
    return new Response('not found', { status: 404 });
  },
};
