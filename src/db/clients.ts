// OAuth 2 service clients in D1. Failed secret checks count toward a lockout with the password
// lockout's thresholds (db/lockout.ts).
import { and, asc, eq, gt, isNull, lte, or, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { LOCKOUT_BASE_SECONDS, LOCKOUT_MAX_SECONDS, LOCKOUT_THRESHOLD } from './lockout';
import { oauthClients, type OAuthClientRow } from './schema';

export interface ClientView {
  client_id: string;
  name: string;
  roles: string[];
  disabled: boolean;
  secret_rotated: boolean;
  previous_secret_expires_at: number | null;
  locked_until: number | null;
  created_at: number;
  updated_at: number;
}

export function toClientView(row: OAuthClientRow, parseRoles: (json: string) => string[]): ClientView {
  return {
    client_id: row.id,
    name: row.name,
    roles: parseRoles(row.roles),
    disabled: row.disabled,
    secret_rotated: row.previousSecretHash !== null,
    previous_secret_expires_at: row.previousExpiresAt,
    locked_until: row.lockedUntil,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

export async function insertClient(db: D1Database, c: { id: string; name: string; roles: string[]; secretHash: string }, now: number): Promise<OAuthClientRow> {
  const rows = await drizzle(db)
    .insert(oauthClients)
    .values({ id: c.id, name: c.name, roles: JSON.stringify(c.roles), secretHash: c.secretHash, createdAt: now, updatedAt: now })
    .returning();
  return rows[0]!;
}

export async function findClient(db: D1Database, id: string): Promise<OAuthClientRow | undefined> {
  return drizzle(db).select().from(oauthClients).where(eq(oauthClients.id, id)).get();
}

export async function listClients(db: D1Database, page: { after?: string | undefined; limit: number }): Promise<OAuthClientRow[]> {
  return drizzle(db)
    .select()
    .from(oauthClients)
    .where(page.after !== undefined ? gt(oauthClients.id, page.after) : undefined)
    .orderBy(asc(oauthClients.id))
    .limit(page.limit)
    .all();
}

/** The row before and after, read in the update's own batch (as for users: decide from what changed). */
export async function updateClient(
  db: D1Database,
  id: string,
  changes: { name?: string | undefined; roles?: string[] | undefined; disabled?: boolean | undefined },
  now: number,
): Promise<{ before: OAuthClientRow | undefined; after: OAuthClientRow | undefined }> {
  const orm = drizzle(db);
  const [before, after] = await orm.batch([
    orm.select().from(oauthClients).where(eq(oauthClients.id, id)),
    orm
      .update(oauthClients)
      .set({
        ...(changes.name !== undefined ? { name: changes.name } : {}),
        ...(changes.roles !== undefined ? { roles: JSON.stringify(changes.roles) } : {}),
        ...(changes.disabled !== undefined ? { disabled: changes.disabled } : {}),
        updatedAt: now,
      })
      .where(eq(oauthClients.id, id))
      .returning(),
  ]);
  return { before: before[0], after: after[0] };
}

/** Rotation: the current secret becomes the previous one, accepted until `previousExpiresAt`. */
export async function rotateClientSecret(db: D1Database, id: string, secretHash: string, previousExpiresAt: number, now: number): Promise<OAuthClientRow | undefined> {
  const rows = await drizzle(db)
    .update(oauthClients)
    .set({ previousSecretHash: sql`${oauthClients.secretHash}`, previousExpiresAt, secretHash, updatedAt: now })
    .where(eq(oauthClients.id, id))
    .returning();
  return rows[0];
}

export async function deleteClient(db: D1Database, id: string): Promise<boolean> {
  const rows = await drizzle(db).delete(oauthClients).where(eq(oauthClients.id, id)).returning({ id: oauthClients.id });
  return rows.length > 0;
}

/**
 * Counts one failed secret check: five in a row lock the client, doubling per further failure up
 * to an hour (the password lockout's rule, db/lockout.ts). Unlike a password, a client secret is
 * 256 random bits, so counting after the comparison loses nothing (parallel guessing is hopeless)
 * and spares a successful authentication any D1 write.
 */
export async function countClientFailure(db: D1Database, id: string, now: number): Promise<void> {
  const failures = sql`${oauthClients.failedAttempts} + 1`;
  await drizzle(db)
    .update(oauthClients)
    .set({
      failedAttempts: failures,
      lockedUntil: sql`CASE WHEN ${failures} >= ${LOCKOUT_THRESHOLD}
        THEN ${now} + min(${LOCKOUT_BASE_SECONDS} << min(${failures} - ${LOCKOUT_THRESHOLD}, 16), ${LOCKOUT_MAX_SECONDS})
        ELSE ${oauthClients.lockedUntil} END`,
    })
    .where(and(eq(oauthClients.id, id), or(isNull(oauthClients.lockedUntil), lte(oauthClients.lockedUntil, now))))
    .run();
}

export async function clearClientFailures(db: D1Database, id: string): Promise<void> {
  await drizzle(db).update(oauthClients).set({ failedAttempts: 0, lockedUntil: null }).where(eq(oauthClients.id, id)).run();
}
