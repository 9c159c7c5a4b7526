// Personal API keys in D1: the authoritative record (KV holds a per-key copy for the hot path,
// tokens/api-keys.ts). Every write that must be exact is one conditional statement.
import { and, desc, eq, gt, isNull, lte, or } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { apiKeys, users, type ApiKeyRow } from './schema';

/** Most live keys a user may hold: bounds the KV writes of one owner change (tokens/api-keys.ts). */
export const MAX_KEYS_PER_USER = 25;

export interface ApiKeyView {
  id: string;
  name: string;
  prefix: string;
  roles: string[];
  created_at: number;
  last_used_at: number | null;
  expires_at: number;
}

export function toApiKeyView(row: ApiKeyRow, parseRoles: (json: string) => string[]): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    prefix: row.displayPrefix,
    roles: parseRoles(row.roles),
    created_at: row.createdAt,
    last_used_at: row.lastUsedAt,
    expires_at: row.expiresAt,
  };
}

export interface NewApiKey {
  id: string;
  userId: string;
  name: string;
  displayPrefix: string;
  keyHash: string;
  roles: string[];
  expiresAt: number;
}

/**
 * Inserts the key only while its owner is enabled, holds every one of its roles, and has fewer
 * than MAX_KEYS_PER_USER live keys: one statement, so a concurrent demotion or a burst of
 * creations cannot slip past the checks. Returns whether it was inserted.
 */
export async function insertApiKey(db: D1Database, key: NewApiKey, now: number): Promise<boolean> {
  const result = await db
    .prepare(
      `INSERT INTO api_keys (id, user_id, name, display_prefix, key_hash, roles, created_at, expires_at)
       SELECT ?, u.id, ?, ?, ?, ?, ?, ? FROM users AS u
       WHERE u.id = ? AND u.disabled = 0
         AND NOT EXISTS (SELECT 1 FROM json_each(?) AS wanted WHERE wanted.value NOT IN (SELECT value FROM json_each(u.roles)))
         AND (SELECT count(*) FROM api_keys WHERE user_id = u.id AND revoked_at IS NULL AND expires_at > ?) < ?`,
    )
    .bind(key.id, key.name, key.displayPrefix, key.keyHash, JSON.stringify(key.roles), now, key.expiresAt, key.userId, JSON.stringify(key.roles), now, MAX_KEYS_PER_USER)
    .run();
  return (result.meta.changes ?? 0) === 1;
}

/** Live and past keys of a user, newest first (at most a page; keys are few). */
export async function listApiKeys(db: D1Database, userId: string, now: number): Promise<ApiKeyRow[]> {
  return drizzle(db)
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt), gt(apiKeys.expiresAt, now)))
    .orderBy(desc(apiKeys.createdAt))
    .limit(100)
    .all();
}

/** Revokes one key (of `userId` when given); returns the row as revoked, or undefined. */
export async function revokeApiKey(db: D1Database, id: string, now: number, userId?: string): Promise<ApiKeyRow | undefined> {
  const rows = await drizzle(db)
    .update(apiKeys)
    .set({ revokedAt: now })
    .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt), userId ? eq(apiKeys.userId, userId) : undefined))
    .returning();
  return rows[0];
}

export async function findApiKeyByHash(db: D1Database, keyHash: string): Promise<ApiKeyRow | undefined> {
  return drizzle(db).select().from(apiKeys).where(eq(apiKeys.keyHash, keyHash)).get();
}

/**
 * Every key of a user that KV may still hold (not yet expired), with the owner's current state, in
 * one read: what the KV copies must become after the owner or a key changed.
 */
export async function keysWithOwner(
  db: D1Database,
  userId: string,
  now: number,
): Promise<{ owner: { username: string; roles: string; disabled: boolean } | undefined; keys: ApiKeyRow[] }> {
  const orm = drizzle(db);
  const [owner, keys] = await orm.batch([
    orm.select({ username: users.username, roles: users.roles, disabled: users.disabled }).from(users).where(eq(users.id, userId)),
    orm.select().from(apiKeys).where(and(eq(apiKeys.userId, userId), gt(apiKeys.expiresAt, now))),
  ]);
  return { owner: owner[0], keys };
}

/** "Last used", written at most once per interval per key: the condition makes a race harmless. */
export async function touchApiKey(db: D1Database, id: string, now: number, interval: number): Promise<void> {
  await drizzle(db)
    .update(apiKeys)
    .set({ lastUsedAt: now })
    .where(and(eq(apiKeys.id, id), or(isNull(apiKeys.lastUsedAt), lte(apiKeys.lastUsedAt, now - interval))))
    .run();
}

/** A key with its owner in one read: the fresh check of an API-key request. */
export async function apiKeyWithOwner(
  db: D1Database,
  keyId: string,
): Promise<{ key: ApiKeyRow; owner: { username: string; roles: string; disabled: boolean } } | undefined> {
  const row = await drizzle(db)
    .select({ key: apiKeys, owner: { username: users.username, roles: users.roles, disabled: users.disabled } })
    .from(apiKeys)
    .innerJoin(users, eq(users.id, apiKeys.userId))
    .where(eq(apiKeys.id, keyId))
    .get();
  return row ?? undefined;
}
