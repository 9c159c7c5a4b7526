// Stored passkeys (webauthn_credentials): public keys and counters only. Every change that must be
// exact is one conditional statement: the per-user cap on insert, the counter only moving forward.
import { and, asc, count, eq, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { webauthnCredentials, type WebauthnCredentialRow } from './schema';

/** Enough for every device a person owns; bounds the rows a user can make us store. */
export const MAX_PASSKEYS_PER_USER = 20;

export interface PasskeyView {
  id: string;
  name: string;
  device_type: 'singleDevice' | 'multiDevice';
  backed_up: boolean;
  created_at: number;
  last_used_at: number | null;
}

export function toPasskeyView(row: WebauthnCredentialRow): PasskeyView {
  return { id: row.id, name: row.name, device_type: row.deviceType, backed_up: row.backedUp, created_at: row.createdAt, last_used_at: row.lastUsedAt };
}

export async function listPasskeys(db: D1Database, userId: string): Promise<WebauthnCredentialRow[]> {
  return drizzle(db).select().from(webauthnCredentials).where(eq(webauthnCredentials.userId, userId)).orderBy(asc(webauthnCredentials.createdAt)).all();
}

export async function countPasskeys(db: D1Database, userId: string): Promise<number> {
  const row = await drizzle(db).select({ n: count() }).from(webauthnCredentials).where(eq(webauthnCredentials.userId, userId)).get();
  return row?.n ?? 0;
}

export async function findPasskey(db: D1Database, id: string): Promise<WebauthnCredentialRow | undefined> {
  return drizzle(db).select().from(webauthnCredentials).where(eq(webauthnCredentials.id, id)).get();
}

/** Inserts unless the id exists or the user is at the cap (one statement, so a burst cannot pass it). */
export async function insertPasskey(db: D1Database, row: Omit<WebauthnCredentialRow, 'lastUsedAt'>): Promise<boolean> {
  const result = await db
    .prepare(
      `INSERT INTO webauthn_credentials (id, user_id, name, public_key, counter, transports, device_type, backed_up, created_at)
       SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?
       WHERE (SELECT count(*) FROM webauthn_credentials WHERE user_id = ?) < ?
       ON CONFLICT (id) DO NOTHING`,
    )
    .bind(row.id, row.userId, row.name, row.publicKey, row.counter, row.transports, row.deviceType, row.backedUp ? 1 : 0, row.createdAt, row.userId, MAX_PASSKEYS_PER_USER)
    .run();
  return (result.meta.changes ?? 0) === 1;
}

/**
 * Records a verified assertion. WebAuthn section 6.1.1: a counter that does not increase signals a
 * cloned authenticator, unless both are 0 (authenticators that do not count, as synced passkeys).
 * Conditional on the counter read before verifying, so two racing assertions cannot both pass.
 */
export async function notePasskeyUse(db: D1Database, id: string, seenCounter: number, newCounter: number, backedUp: boolean, now: number): Promise<boolean> {
  const result = await drizzle(db)
    .update(webauthnCredentials)
    .set({ counter: newCounter, backedUp, lastUsedAt: now })
    .where(and(eq(webauthnCredentials.id, id), eq(webauthnCredentials.counter, seenCounter), sql`(${newCounter} > ${seenCounter} OR ${newCounter} = 0)`))
    .run();
  return (result.meta.changes ?? 0) === 1;
}

export async function renamePasskey(db: D1Database, userId: string, id: string, name: string): Promise<boolean> {
  const result = await drizzle(db).update(webauthnCredentials).set({ name }).where(and(eq(webauthnCredentials.id, id), eq(webauthnCredentials.userId, userId))).run();
  return (result.meta.changes ?? 0) === 1;
}

export async function deletePasskey(db: D1Database, userId: string, id: string): Promise<boolean> {
  const result = await drizzle(db).delete(webauthnCredentials).where(and(eq(webauthnCredentials.id, id), eq(webauthnCredentials.userId, userId))).run();
  return (result.meta.changes ?? 0) === 1;
}

export async function deleteAllPasskeys(db: D1Database, userId: string): Promise<number> {
  const result = await drizzle(db).delete(webauthnCredentials).where(eq(webauthnCredentials.userId, userId)).run();
  return result.meta.changes ?? 0;
}
