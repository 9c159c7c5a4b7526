// Users in D1. Usernames are unique case-insensitively through `username_key`.
import { and, asc, eq, gt, gte, isNotNull, isNull, lt, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { randomId } from '../crypto/random';
import { normalizeEmail } from '../lib/email';
import { parseRoles } from '../lib/roles';
import type { RevokedRow } from './sessions';
import { sessions, users, type UserRow } from './schema';

/** Re-exported for the many readers of user rows (src/lib/roles.ts is the pure home). */
export { parseRoles };

/** What the API shows of a user: never a hash or a secret. */
export interface PublicUser {
  id: string;
  username: string;
  email: string | null;
  /** Whether `email` was proven by a link sent to it (docs/email.md). */
  email_verified: boolean;
  roles: string[];
  created_at: number;
}


export function toPublicUser(row: UserWithoutHash): PublicUser {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    email_verified: row.email !== null && row.emailVerifiedAt !== null,
    roles: parseRoles(row.roles),
    created_at: row.createdAt,
  };
}

/** What the admin API shows: the public user plus account state; still never a hash. */
export interface AdminUser extends PublicUser {
  disabled: boolean;
  failed_logins: number;
  locked_until: number | null;
  updated_at: number;
}

/** Every column except the password hash: admin reads never load it. */
const adminColumns = {
  id: users.id,
  username: users.username,
  usernameKey: users.usernameKey,
  usernameSkeleton: users.usernameSkeleton,
  email: users.email,
  emailKey: users.emailKey,
  emailVerifiedAt: users.emailVerifiedAt,
  passwordGeneration: users.passwordGeneration,
  roles: users.roles,
  disabled: users.disabled,
  failedLogins: users.failedLogins,
  lockedUntil: users.lockedUntil,
  createdAt: users.createdAt,
  updatedAt: users.updatedAt,
};
export type UserWithoutHash = Omit<UserRow, 'passwordHash'>;

export function toAdminUser(row: UserWithoutHash): AdminUser {
  return {
    ...toPublicUser(row),
    disabled: row.disabled,
    failed_logins: row.failedLogins,
    locked_until: row.lockedUntil,
    updated_at: row.updatedAt,
  };
}

export async function findUserByKey(db: D1Database, usernameKey: string): Promise<UserRow | undefined> {
  return drizzle(db).select().from(users).where(eq(users.usernameKey, usernameKey)).get();
}

export async function findUserById(db: D1Database, id: string): Promise<UserRow | undefined> {
  return drizzle(db).select().from(users).where(eq(users.id, id)).get();
}

/**
 * The user behind an access token, read together with the token's session in one statement (a
 * fresh check costs one D1 read). `sessionLive` is false when D1 says the session has ended or
 * its row is gone (the clean-up removes a row only once none of its access tokens can be valid):
 * D1 is the record, the KV revocation list only its eventually consistent copy.
 */
export async function findUserWithSession(
  db: D1Database,
  userId: string,
  sessionId: string,
): Promise<{ user: UserRow; sessionLive: boolean } | undefined> {
  const row = await drizzle(db)
    .select({ user: users, sessionId: sessions.id, revokedAt: sessions.revokedAt })
    .from(users)
    .leftJoin(sessions, and(eq(sessions.id, sessionId), eq(sessions.userId, users.id)))
    .where(eq(users.id, userId))
    .get();
  if (!row) return undefined;
  return { user: row.user, sessionLive: row.sessionId !== null && row.revokedAt === null };
}

export interface NewUser {
  username: string;
  usernameKey: string;
  usernameSkeleton: string;
  email: string | null;
  passwordHash: string;
  roles: string[];
}

/**
 * Inserts the user; returns undefined when the username or a look-alike of it is taken (no
 * exception, no race: the conflict clause covers both unique indexes).
 */
export async function insertUser(db: D1Database, input: NewUser, now: number): Promise<UserRow | undefined> {
  const rows = await drizzle(db)
    .insert(users)
    .values({
      id: randomId(),
      username: input.username,
      usernameKey: input.usernameKey,
      usernameSkeleton: input.usernameSkeleton,
      email: input.email,
      emailKey: input.email === null ? null : normalizeEmail(input.email).key,
      passwordHash: input.passwordHash,
      roles: JSON.stringify(input.roles),
      createdAt: now,
      updatedAt: now,
    })
    .onConflictDoNothing()
    .returning();
  return rows[0];
}

/**
 * Stores a new hash. With `expected`, only if the stored hash is still that one: a rehash on login
 * must never overwrite a password changed in the meantime. Returns whether the row changed.
 */
export async function setPasswordHash(db: D1Database, id: string, passwordHash: string, now: number, expected?: string): Promise<boolean> {
  const result = await drizzle(db)
    .update(users)
    .set({ passwordHash, updatedAt: now })
    .where(and(eq(users.id, id), expected === undefined ? undefined : eq(users.passwordHash, expected)))
    .run();
  return (result.meta.changes ?? 0) === 1;
}

// Usernames are ASCII after validation, but the upper bound of a prefix range must be above any
// character a key could hold: U+10FFFF sorts after every other code point in UTF-8 (BINARY collation).
const PREFIX_END = '\u{10FFFF}';

/**
 * One page of users in `username_key` order, starting after `after` (keyset pagination: stable
 * while users are added or removed), optionally only keys starting with `prefix`.
 */
export async function listUsers(
  db: D1Database,
  page: { after?: string | undefined; prefix?: string | undefined; limit: number },
): Promise<UserWithoutHash[]> {
  return drizzle(db)
    .select(adminColumns)
    .from(users)
    .where(
      and(
        page.after !== undefined ? gt(users.usernameKey, page.after) : undefined,
        page.prefix ? gte(users.usernameKey, page.prefix) : undefined,
        page.prefix ? lt(users.usernameKey, page.prefix + PREFIX_END) : undefined,
      ),
    )
    .orderBy(asc(users.usernameKey))
    .limit(page.limit)
    .all();
}

export async function findUserWithoutHash(db: D1Database, id: string): Promise<UserWithoutHash | undefined> {
  return drizzle(db).select(adminColumns).from(users).where(eq(users.id, id)).get();
}

export interface UserChanges {
  roles?: string[];
  email?: string | null;
  disabled?: boolean;
}

/**
 * SQL condition: `actorId` is still an enabled administrator. Admin writes carry it in their own
 * statement, so two administrators demoting or deleting each other at the same moment cannot both
 * succeed (which would leave no administrator).
 */
function actorIsAdmin(actorId: string) {
  return sql`EXISTS (SELECT 1 FROM users AS actor, json_each(actor.roles) AS r WHERE actor.id = ${actorId} AND actor.disabled = 0 AND r.value = 'admin')`;
}

/**
 * Applies `changes` and returns the row as it was just before and just after, read in the same D1
 * batch (a transaction): the caller decides what changed from the update itself, not from a read
 * made earlier, which a concurrent change could have made stale (audit finding 7). `after` is
 * undefined when the user does not exist or, with `actorId`, the actor is no longer an admin.
 */
export async function updateUser(
  db: D1Database,
  id: string,
  changes: UserChanges,
  now: number,
  actorId?: string,
): Promise<{ before: UserWithoutHash | undefined; after: UserWithoutHash | undefined }> {
  const orm = drizzle(db);
  const [before, after] = await orm.batch([
    orm.select(adminColumns).from(users).where(eq(users.id, id)),
    orm
      .update(users)
      .set({
        ...(changes.roles !== undefined ? { roles: JSON.stringify(changes.roles) } : {}),
        // A new address is unverified until a link sent to it is opened.
        ...(changes.email !== undefined
          ? { email: changes.email, emailKey: changes.email === null ? null : normalizeEmail(changes.email).key, emailVerifiedAt: null }
          : {}),
        ...(changes.disabled !== undefined ? { disabled: changes.disabled } : {}),
        updatedAt: now,
      })
      .where(and(eq(users.id, id), actorId ? actorIsAdmin(actorId) : undefined))
      .returning(adminColumns),
  ]);
  return { before: before[0], after: after[0] };
}

/** Clears the failed-login counter and any lock (the lockout itself lives with login). */
export async function unlockUser(db: D1Database, id: string, now: number): Promise<UserWithoutHash | undefined> {
  const rows = await drizzle(db)
    .update(users)
    .set({ failedLogins: 0, lockedUntil: null, updatedAt: now })
    .where(eq(users.id, id))
    .returning(adminColumns);
  return rows[0];
}

/**
 * Deletes a user in one D1 batch (a transaction) that first marks their live sessions revoked and
 * returns them: the session rows then go with the user (ON DELETE CASCADE), but the caller still
 * knows which access tokens to put on the revocation list. No login can slip in between.
 */
export async function deleteUserReturningSessions(
  db: D1Database,
  id: string,
  reason: string,
  now: number,
  actorId?: string,
): Promise<{ deleted: boolean; revoked: RevokedRow[] }> {
  const orm = drizzle(db);
  const guard = actorId ? actorIsAdmin(actorId) : undefined;
  const [revoked, deleted] = await orm.batch([
    orm
      .update(sessions)
      .set({ revokedAt: now, revokedReason: reason })
      .where(and(eq(sessions.userId, id), isNull(sessions.revokedAt), guard))
      .returning({ id: sessions.id, lastUsedAt: sessions.lastUsedAt }),
    orm.delete(users).where(and(eq(users.id, id), guard)).returning({ id: users.id }),
  ]);
  return { deleted: deleted.length > 0, revoked };
}

/**
 * Marks the address verified, only if it is still the account's address and no other account has
 * verified it meanwhile (OR IGNORE: the partial unique index refuses a second verified holder).
 * Returns 'verified', 'taken' (another account holds it verified) or 'stale' (the address changed).
 */
export async function markEmailVerified(db: D1Database, userId: string, emailKey: string, now: number): Promise<'verified' | 'taken' | 'stale'> {
  const [updated, row] = await db.batch([
    db.prepare('UPDATE OR IGNORE users SET email_verified_at = ?, updated_at = ? WHERE id = ? AND email_key = ? AND email_verified_at IS NULL').bind(now, now, userId, emailKey),
    db.prepare('SELECT email_key, email_verified_at FROM users WHERE id = ?').bind(userId),
  ]);
  if ((updated?.meta.changes ?? 0) === 1) return 'verified';
  const current = row?.results[0] as { email_key: string | null; email_verified_at: number | null } | undefined;
  if (current?.email_key === emailKey && current.email_verified_at !== null) return 'verified'; // already, e.g. a second tab
  return current?.email_key === emailKey ? 'taken' : 'stale';
}

/** Replaces the address by a confirmed one (verified at once); false when another account verified it first. */
export async function applyEmailChange(db: D1Database, userId: string, email: string, emailKey: string, now: number): Promise<boolean> {
  const result = await db
    .prepare('UPDATE OR IGNORE users SET email = ?, email_key = ?, email_verified_at = ?, updated_at = ? WHERE id = ?')
    .bind(email, emailKey, now, now, userId)
    .run();
  return (result.meta.changes ?? 0) === 1;
}

/** The account a reset is asked for: by username key, or by an address verified on it. */
export async function findUserForReset(db: D1Database, by: { usernameKey: string } | { emailKey: string }): Promise<UserRow | undefined> {
  const where = 'usernameKey' in by ? eq(users.usernameKey, by.usernameKey) : and(eq(users.emailKey, by.emailKey), isNotNull(users.emailVerifiedAt));
  return drizzle(db).select().from(users).where(where).get();
}
