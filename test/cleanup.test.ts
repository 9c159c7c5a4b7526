// The scheduled clean-up removes only what has expired.
import { createScheduledController } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { inArray } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { describe, expect, it } from 'vitest';
import worker from '../src/index';
import { getConfig, parseConfig, ConfigError, type Env } from '../src/config';
import { recordAudit } from '../src/db/audit';
import { auditLog, sessions, signingKeys } from '../src/db/schema';
import { usernameSkeleton } from '../src/lib/validation';
import { insertUser } from '../src/db/users';
import { runCleanup } from '../src/services/cleanup';
import { T0, testEnv, uniqueName } from './helpers';

const NOW = T0 + 1_000_000;
const DAY = 86_400;
// A syntactically valid PHC string: these users never log in, so no hashing is needed.
const FAKE_HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';

async function newUser(db: D1Database): Promise<string> {
  const name = uniqueName('clean');
  const row = await insertUser(db, { username: name, usernameKey: name.toLowerCase(), usernameSkeleton: usernameSkeleton(name), email: null, passwordHash: FAKE_HASH, roles: [] }, T0);
  return row!.id;
}

interface SessionShape {
  lastUsedAt: number;
  refreshExpiresAt: number;
  expiresAt: number;
  revokedAt?: number;
}

async function addSession(db: D1Database, userId: string, s: SessionShape): Promise<string> {
  const id = crypto.randomUUID();
  await drizzle(db)
    .insert(sessions)
    .values({
      id,
      userId,
      currentHash: crypto.randomUUID(),
      createdAt: T0,
      lastUsedAt: s.lastUsedAt,
      refreshExpiresAt: s.refreshExpiresAt,
      expiresAt: s.expiresAt,
      revokedAt: s.revokedAt ?? null,
      revokedReason: s.revokedAt ? 'test' : null,
    })
    .run();
  return id;
}

async function remainingSessions(db: D1Database, ids: string[]): Promise<string[]> {
  const rows = await drizzle(db).select({ id: sessions.id }).from(sessions).where(inArray(sessions.id, ids)).all();
  return rows.map((r) => r.id);
}

async function addAudit(db: D1Database, at: number): Promise<number> {
  await recordAudit(db, { event: 'login', outcome: 'success', detail: { marker: at } }, at);
  const row = await db.prepare('SELECT max(id) AS id FROM audit_log').first<{ id: number }>();
  return row!.id;
}

async function remainingAudit(db: D1Database, ids: number[]): Promise<number[]> {
  const rows = await drizzle(db).select({ id: auditLog.id }).from(auditLog).where(inArray(auditLog.id, ids)).all();
  return rows.map((r) => r.id).sort((a, b) => a - b);
}

async function addRetiredKey(db: D1Database, retireAfter: number): Promise<string> {
  const kid = `test-${crypto.randomUUID()}`;
  await drizzle(db)
    .insert(signingKeys)
    .values({ kid, alg: 'HS256', publicJwk: null, privateEnc: 'v1.x.y', status: 'retired', createdAt: T0, retiredAt: retireAfter - 930, retireAfter })
    .run();
  return kid;
}

describe('scheduled clean-up', () => {
  it('deletes sessions only once they can neither refresh nor have a live access token', async () => {
    const e = testEnv();
    const config = getConfig(e); // ACCESS_TOKEN_TTL 900 + CLOCK_LEEWAY 30: a token lives 930 s at most
    expect(config.accessTtl + config.leeway).toBe(930);
    const uid = await newUser(e.DB);
    const live = { refreshExpiresAt: NOW + 1000, expiresAt: NOW + 5000 };
    const keep = {
      active: await addSession(e.DB, uid, { lastUsedAt: NOW - 10, ...live }),
      idle: await addSession(e.DB, uid, { lastUsedAt: NOW - 10 * DAY, ...live }),
      refreshJustExpired: await addSession(e.DB, uid, { lastUsedAt: NOW - 100, refreshExpiresAt: NOW - 1, expiresAt: NOW + 5000 }),
      revokedRecently: await addSession(e.DB, uid, { lastUsedAt: NOW - 10, revokedAt: NOW - 5, ...live }),
      revokedAtBoundary: await addSession(e.DB, uid, { lastUsedAt: NOW - 930, revokedAt: NOW - 900, ...live }),
      expiredAtBoundary: await addSession(e.DB, uid, { lastUsedAt: NOW - 930, refreshExpiresAt: NOW - 900, expiresAt: NOW - 900 }),
    };
    const gone = {
      refreshExpired: await addSession(e.DB, uid, { lastUsedAt: NOW - 2 * DAY, refreshExpiresAt: NOW - DAY, expiresAt: NOW + 5000 }),
      absoluteExpired: await addSession(e.DB, uid, { lastUsedAt: NOW - 2000, refreshExpiresAt: NOW - 1000, expiresAt: NOW - 1000 }),
      revokedLongAgo: await addSession(e.DB, uid, { lastUsedAt: NOW - 2000, revokedAt: NOW - 1500, ...live }),
      revokedPastBoundary: await addSession(e.DB, uid, { lastUsedAt: NOW - 931, revokedAt: NOW - 931, ...live }),
    };

    const result = await runCleanup(e.DB, config, NOW);
    expect(result.sessions).toBe(4);
    expect(result.capped).toBe(false);
    const left = await remainingSessions(e.DB, [...Object.values(keep), ...Object.values(gone)]);
    expect(left.sort()).toEqual(Object.values(keep).sort());

    // Running again at the same time deletes nothing more; time moving on lets more go.
    expect((await runCleanup(e.DB, config, NOW)).sessions).toBe(0);
    // Past NOW+1000 the live sessions' refresh expiry has passed and every token they issued has expired.
    const later = await runCleanup(e.DB, config, NOW + 1001);
    expect(later.sessions).toBe(6);
    expect(await remainingSessions(e.DB, Object.values(keep))).toEqual([]);
  });

  it('deletes audit rows older than AUDIT_RETENTION_DAYS (default 90) and nothing newer', async () => {
    const e = testEnv();
    const old = await addAudit(e.DB, NOW - 90 * DAY - 1);
    const edge = await addAudit(e.DB, NOW - 90 * DAY);
    const recent = await addAudit(e.DB, NOW - 8 * DAY);
    const fresh = await addAudit(e.DB, NOW - 60);
    await runCleanup(e.DB, getConfig(e), NOW);
    expect(await remainingAudit(e.DB, [old, edge, recent, fresh])).toEqual([edge, recent, fresh]);

    const week = parseConfig(testEnv({ AUDIT_RETENTION_DAYS: '7' }));
    expect(week.auditRetentionDays).toBe(7);
    await runCleanup(e.DB, week, NOW);
    expect(await remainingAudit(e.DB, [old, edge, recent, fresh])).toEqual([fresh]);
  });

  it('AUDIT_RETENTION_DAYS is validated like every other variable', () => {
    for (const bad of ['0', '-1', 'ninety', '3651', '1.5']) {
      expect(() => parseConfig(testEnv({ AUDIT_RETENTION_DAYS: bad })), bad).toThrow(ConfigError);
    }
    expect(() => parseConfig(testEnv({ AUDIT_RETENTION_DAYS: 'x' }))).toThrow(/AUDIT_RETENTION_DAYS: must be a whole number of days/);
    expect(parseConfig(testEnv({ AUDIT_RETENTION_DAYS: '' })).auditRetentionDays).toBe(90);
  });

  it('purges retired signing keys whose overlap has passed', async () => {
    const e = testEnv();
    const past = await addRetiredKey(e.DB, NOW - 1);
    const future = await addRetiredKey(e.DB, NOW + 60);
    const result = await runCleanup(e.DB, getConfig(e), NOW);
    expect(result.keys).toBeGreaterThanOrEqual(1);
    const rows = await drizzle(e.DB).select({ kid: signingKeys.kid }).from(signingKeys).where(inArray(signingKeys.kid, [past, future])).all();
    expect(rows.map((r) => r.kid)).toEqual([future]);
  });

  it('works in bounded batches, leaving the rest for the next run', async () => {
    const e = testEnv();
    const config = getConfig(e);
    await runCleanup(e.DB, config, NOW + 10 * DAY); // start from a clean table
    const uid = await newUser(e.DB);
    const at = NOW + 20 * DAY;
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await addSession(e.DB, uid, { lastUsedAt: at - 2 * DAY, refreshExpiresAt: at - DAY, expiresAt: at - DAY }));
    const first = await runCleanup(e.DB, config, at, { batchSize: 2, maxBatches: 2 });
    expect(first).toMatchObject({ sessions: 4, capped: true });
    expect(await remainingSessions(e.DB, ids)).toHaveLength(1);
    const second = await runCleanup(e.DB, config, at, { batchSize: 2, maxBatches: 2 });
    expect(second).toMatchObject({ sessions: 1, capped: false });
    expect(await remainingSessions(e.DB, ids)).toEqual([]);
  });

  it('the Worker scheduled() handler runs the clean-up at the scheduled time', async () => {
    const e = env as unknown as Env;
    const uid = await newUser(e.DB);
    const at = NOW + 100 * DAY;
    const expired = await addSession(e.DB, uid, { lastUsedAt: at - 2 * DAY, refreshExpiresAt: at - DAY, expiresAt: at + DAY });
    const live = await addSession(e.DB, uid, { lastUsedAt: at - 60, refreshExpiresAt: at + DAY, expiresAt: at + DAY });
    const oldAudit = await addAudit(e.DB, at - 91 * DAY);
    const newAudit = await addAudit(e.DB, at - DAY);

    await worker.scheduled(createScheduledController({ scheduledTime: at * 1000, cron: '23 * * * *' }), e);

    expect(await remainingSessions(e.DB, [expired, live])).toEqual([live]);
    expect(await remainingAudit(e.DB, [oldAudit, newAudit])).toEqual([newAudit]);
  });
});

describe('API keys', () => {
  it('deletes keys revoked or expired more than a day ago, and keeps the others', async () => {
    const e = testEnv();
    const owner = await newUser(e.DB);
    const key = (id: string, expiresAt: number, revokedAt: number | null) =>
      env.DB.prepare('INSERT INTO api_keys (id, user_id, name, display_prefix, key_hash, roles, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .bind(id, owner, 'k', 'eak_x', `hash-${id}`, '[]', T0, expiresAt, revokedAt)
        .run();
    const ids = Array.from({ length: 5 }, () => crypto.randomUUID());
    await key(ids[0]!, NOW + DAY, null); // live
    await key(ids[1]!, NOW - 2 * DAY, null); // expired two days ago: deleted
    await key(ids[2]!, NOW - 3600, null); // expired an hour ago: kept for now
    await key(ids[3]!, NOW + DAY, NOW - 2 * DAY); // revoked two days ago: deleted
    await key(ids[4]!, NOW + DAY, NOW - 3600); // revoked an hour ago: kept for now
    const result = await runCleanup(e.DB, getConfig(e), NOW);
    expect(result.apiKeys).toBeGreaterThanOrEqual(2);
    const left = await env.DB.prepare(`SELECT id FROM api_keys WHERE id IN (${ids.map(() => '?').join(',')})`).bind(...ids).all<{ id: string }>();
    expect(left.results.map((r) => r.id).sort()).toEqual([ids[0], ids[2], ids[4]].sort());
  });
});
