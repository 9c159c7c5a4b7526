// Users in D1. Usernames are unique case-insensitively through `username_key`.
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { randomId } from '../crypto/random';
import { users, type UserRow } from './schema';

/** What the API shows of a user: never a hash or a secret. */
export interface PublicUser {
  id: string;
  username: string;
  email: string | null;
  roles: string[];
  created_at: number;
}

export function parseRoles(json: string): string[] {
  try {
    const value: unknown = JSON.parse(json);
    return Array.isArray(value) ? value.filter((r): r is string => typeof r === 'string') : [];
  } catch {
    return [];
  }
}

export function toPublicUser(row: UserRow): PublicUser {
  return { id: row.id, username: row.username, email: row.email, roles: parseRoles(row.roles), created_at: row.createdAt };
}

export async function findUserByKey(db: D1Database, usernameKey: string): Promise<UserRow | undefined> {
  return drizzle(db).select().from(users).where(eq(users.usernameKey, usernameKey)).get();
}

export async function findUserById(db: D1Database, id: string): Promise<UserRow | undefined> {
  return drizzle(db).select().from(users).where(eq(users.id, id)).get();
}

export interface NewUser {
  username: string;
  usernameKey: string;
  email: string | null;
  passwordHash: string;
  roles: string[];
}

/** Inserts the user; returns undefined when the username is taken (no exception, no race). */
export async function insertUser(db: D1Database, input: NewUser, now: number): Promise<UserRow | undefined> {
  const rows = await drizzle(db)
    .insert(users)
    .values({
      id: randomId(),
      username: input.username,
      usernameKey: input.usernameKey,
      email: input.email,
      passwordHash: input.passwordHash,
      roles: JSON.stringify(input.roles),
      createdAt: now,
      updatedAt: now,
    })
    .onConflictDoNothing({ target: users.usernameKey })
    .returning();
  return rows[0];
}

export async function setPasswordHash(db: D1Database, id: string, passwordHash: string, now: number): Promise<void> {
  await drizzle(db).update(users).set({ passwordHash, updatedAt: now }).where(eq(users.id, id)).run();
}
