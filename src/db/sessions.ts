// Sessions in D1: the authoritative record of every refresh-token family. Every decision that
// must be exact (single-use rotation, reuse detection, revocation) is one conditional statement
// here, because KV is eventually consistent and has no compare-and-set.
import { and, desc, eq, gt, inArray, isNotNull, isNull, ne, or, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { sessions, users, type SessionRow, type UserRow } from './schema';

export interface NewSession {
  id: string;
  userId: string;
  refreshHash: string;
  refreshExpiresAt: number;
  expiresAt: number;
  userAgent: string | null;
  ip: string | null;
  /** RFC 8176 methods of the sign-in (JSON array text); default ["pwd"]. */
  amr?: string;
}

/** What a login checked: the session is created only if the user still matches it. */
export interface UserGuard {
  passwordHash: string;
  roles: string;
}

/**
 * Creates the session in one statement that also re-checks the user: if the password, the roles
 * or the disabled flag changed (or the user was deleted) while the login was hashing, nothing is
 * inserted. Without this, a login straddling a password change or a disable would create a
 * session that the change never revoked. Returns whether the session was created.
 */
export function insertSessionStatement(db: D1Database, s: NewSession, guard: UserGuard, now: number): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO sessions (id, user_id, generation, current_hash, created_at, last_used_at, refresh_expires_at, expires_at, user_agent, ip, amr)
       SELECT ?, id, 0, ?, ?, ?, ?, ?, ?, ?, ? FROM users
       WHERE id = ? AND password_hash = ? AND roles = ? AND disabled = 0`,
    )
    .bind(s.id, s.refreshHash, now, now, s.refreshExpiresAt, s.expiresAt, s.userAgent, s.ip, s.amr ?? '["pwd"]', s.userId, guard.passwordHash, guard.roles);
}

export async function insertSession(db: D1Database, s: NewSession, guard: UserGuard, now: number): Promise<boolean> {
  const result = await insertSessionStatement(db, s, guard, now).run();
  return (result.meta.changes ?? 0) === 1;
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
 * session. The sliding expiry never passes the absolute one. The same batch (one transaction, one
 * round trip) reads the session's user after the update, so the caller gets the roles and the
 * disabled flag as they are now without a second round trip.
 */
export async function rotateSession(
  db: D1Database,
  args: { id: string; presentedHash: string; successorHash: string; refreshTtl: number; meta: { ip: string | null; userAgent: string | null } },
  now: number,
): Promise<{ rotated: SessionRow | undefined; user: UserRow | undefined }> {
  const d = drizzle(db);
  const [rotated, user] = await d.batch([
    d
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
      .returning(),
    d.select().from(users).where(eq(users.id, sql`(SELECT ${sessions.userId} FROM ${sessions} WHERE ${sessions.id} = ${args.id})`)),
  ]);
  return { rotated: rotated[0], user: user[0] };
}

/**
 * Records a token issued inside the grace window, only while the session is live: a revocation
 * that lands between the grace check and this update must win (its KV entry's lifetime was
 * computed from the previous last_used_at). Returns whether the session was still live.
 */
export async function touchSession(db: D1Database, id: string, now: number): Promise<boolean> {
  const result = await drizzle(db)
    .update(sessions)
    .set({ lastUsedAt: now })
    .where(and(eq(sessions.id, id), isNull(sessions.revokedAt)))
    .run();
  return (result.meta.changes ?? 0) === 1;
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
 * Sessions already revoked that may still have live access tokens (an access token was issued
 * after `since`), most recently used first, at most `limit`. Their revocation entries are written
 * again by every later revocation request: a KV write is idempotent, and this is how a revocation
 * whose KV step failed gets repaired by a retry (D1 already says "revoked", so the retry would
 * otherwise find nothing to do). Past the entry limit a user cutoff covers them all, so `limit`
 * only needs to tell whether there are more than that.
 */
export async function revokedSince(
  db: D1Database,
  scope: { userId: string; ids?: readonly string[]; exceptId?: string | undefined },
  since: number,
  limit: number,
): Promise<RevokedRow[]> {
  return drizzle(db)
    .select(revokedColumns)
    .from(sessions)
    .where(
      and(
        eq(sessions.userId, scope.userId),
        isNotNull(sessions.revokedAt),
        gt(sessions.lastUsedAt, since),
        scope.ids ? inArray(sessions.id, [...scope.ids]) : undefined,
        scope.exceptId ? ne(sessions.id, scope.exceptId) : undefined,
      ),
    )
    .orderBy(desc(sessions.lastUsedAt))
    .limit(limit)
    .all();
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

/**
 * A password change: the new hash and the end of the user's other sessions in one batch (D1's
 * transaction), so a failure leaves neither (docs/resilience.md): never a changed password with
 * the old sessions still live, which a retry with the old password could no longer repair.
 */
export async function setPasswordEndingSessions(
  db: D1Database,
  userId: string,
  passwordHash: string,
  now: number,
  exceptId: string,
): Promise<RevokedRow[]> {
  const d = drizzle(db);
  const [, revoked] = await d.batch([
    // A new generation voids every reset link issued before (db/email-tokens.ts).
    d.update(users).set({ passwordHash, passwordGeneration: sql`${users.passwordGeneration} + 1`, updatedAt: now }).where(eq(users.id, userId)),
    d
      .update(sessions)
      .set({ revokedAt: now, revokedReason: 'password_change' })
      .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), ne(sessions.id, exceptId)))
      .returning(revokedColumns),
  ]);
  return revoked;
}

/**
 * A password reset by email link: the new hash, the next password generation (voiding every other
 * reset link), the lockout cleared (the mailbox's owner proved themselves), and every session of the
 * user ended, in one batch. Only if the generation is still the one the consumed token carried, so
 * a password changed meanwhile wins; `changed` says whether the password was set.
 */
export async function resetPasswordEndingSessions(
  db: D1Database,
  userId: string,
  passwordHash: string,
  generation: number,
  now: number,
): Promise<{ changed: boolean; revoked: RevokedRow[] }> {
  const d = drizzle(db);
  const [updated, revoked] = await d.batch([
    d
      .update(users)
      .set({ passwordHash, passwordGeneration: generation + 1, failedLogins: 0, lockedUntil: null, updatedAt: now })
      .where(and(eq(users.id, userId), eq(users.passwordGeneration, generation)))
      .returning({ id: users.id }),
    d
      .update(sessions)
      .set({ revokedAt: now, revokedReason: 'password_reset' })
      // Only if the statement above stored this (salted, so unique) hash.
      .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), sql`EXISTS (SELECT 1 FROM users WHERE users.id = ${userId} AND users.password_hash = ${passwordHash})`))
      .returning(revokedColumns),
  ]);
  return { changed: updated.length === 1, revoked };
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
