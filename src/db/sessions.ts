// Sessions in D1: the authoritative record of every refresh-token family. Every decision that
// must be exact (single-use rotation, reuse detection, revocation) is one conditional statement
// here, because KV is eventually consistent and has no compare-and-set.
import { and, desc, eq, gt, isNull, ne, or, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { sessions, type SessionRow } from './schema';

export interface NewSession {
  id: string;
  userId: string;
  refreshHash: string;
  refreshExpiresAt: number;
  expiresAt: number;
  userAgent: string | null;
  ip: string | null;
}

export async function insertSession(db: D1Database, s: NewSession, now: number): Promise<void> {
  await drizzle(db)
    .insert(sessions)
    .values({
      id: s.id,
      userId: s.userId,
      currentHash: s.refreshHash,
      createdAt: now,
      lastUsedAt: now,
      refreshExpiresAt: s.refreshExpiresAt,
      expiresAt: s.expiresAt,
      userAgent: s.userAgent,
      ip: s.ip,
    })
    .run();
}

export async function findSession(db: D1Database, id: string): Promise<SessionRow | undefined> {
  return drizzle(db).select().from(sessions).where(eq(sessions.id, id)).get();
}

/** Fallback lookup when the KV record of a refresh token has not reached this location yet. */
export async function findSessionByRefreshHash(db: D1Database, hash: string): Promise<SessionRow | undefined> {
  return drizzle(db)
    .select()
    .from(sessions)
    .where(or(eq(sessions.currentHash, hash), eq(sessions.previousHash, hash)))
    .get();
}

/**
 * Single-use rotation: succeeds for exactly one caller presenting the current token of a live
 * session. The sliding expiry never passes the absolute one.
 */
export async function rotateSession(
  db: D1Database,
  args: { id: string; presentedHash: string; successorHash: string; refreshTtl: number; meta: { ip: string | null; userAgent: string | null } },
  now: number,
): Promise<SessionRow | undefined> {
  const rows = await drizzle(db)
    .update(sessions)
    .set({
      generation: sql`${sessions.generation} + 1`,
      previousHash: sql`${sessions.currentHash}`,
      currentHash: args.successorHash,
      rotatedAt: now,
      lastUsedAt: now,
      refreshExpiresAt: sql`min(${now + args.refreshTtl}, ${sessions.expiresAt})`,
      ip: args.meta.ip,
      userAgent: args.meta.userAgent,
    })
    .where(
      and(
        eq(sessions.id, args.id),
        eq(sessions.currentHash, args.presentedHash),
        isNull(sessions.revokedAt),
        gt(sessions.refreshExpiresAt, now),
        gt(sessions.expiresAt, now),
      ),
    )
    .returning();
  return rows[0];
}

/** Marks a token issued inside the grace window as used again, so last_used_at covers it. */
export async function touchSession(db: D1Database, id: string, now: number): Promise<void> {
  await drizzle(db).update(sessions).set({ lastUsedAt: now }).where(eq(sessions.id, id)).run();
}

export interface RevokedRow {
  id: string;
  lastUsedAt: number;
}

const revokedColumns = { id: sessions.id, lastUsedAt: sessions.lastUsedAt };

export async function revokeSession(db: D1Database, id: string, reason: string, now: number, userId?: string): Promise<RevokedRow | undefined> {
  const rows = await drizzle(db)
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(sessions.id, id), isNull(sessions.revokedAt), userId ? eq(sessions.userId, userId) : undefined))
    .returning(revokedColumns);
  return rows[0];
}

/**
 * Revokes every unrevoked session of a user, optionally keeping one (the caller's). Sessions past
 * their expiry are included on purpose: an access token issued just before a session expired
 * outlives it by up to ACCESS_TOKEN_TTL, and only a revocation entry refuses it (the caller skips
 * entries for sessions whose tokens have all expired).
 */
export async function revokeUserSessions(
  db: D1Database,
  userId: string,
  reason: string,
  now: number,
  exceptId?: string,
): Promise<RevokedRow[]> {
  return drizzle(db)
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), exceptId ? ne(sessions.id, exceptId) : undefined))
    .returning(revokedColumns);
}

export interface SessionView {
  id: string;
  created_at: number;
  last_used_at: number;
  expires_at: number;
  user_agent: string | null;
  ip: string | null;
}

export async function listActiveSessions(db: D1Database, userId: string, now: number): Promise<SessionView[]> {
  return drizzle(db)
    .select({
      id: sessions.id,
      created_at: sessions.createdAt,
      last_used_at: sessions.lastUsedAt,
      expires_at: sessions.refreshExpiresAt,
      user_agent: sessions.userAgent,
      ip: sessions.ip,
    })
    .from(sessions)
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.refreshExpiresAt, now), gt(sessions.expiresAt, now)))
    .orderBy(desc(sessions.lastUsedAt))
    .limit(100)
    .all();
}
