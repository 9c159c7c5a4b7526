// The signing_keys table (docs/storage.md). Per algorithm there is at most one `active` key (it
// signs) and one `next` key (published in the JWKS ahead of use, so verifiers that cache the JWKS
// already hold it when a rotation makes it active); `retired` keys verify until `retire_after`.
// Both invariants are partial unique indexes, so every write is a plain INSERT ... ON CONFLICT DO
// NOTHING or UPDATE: racing isolates cannot create two active keys.
//
// The statements are built here as SQL text + parameters and run either as one D1 batch (a
// transaction) by the service or through `wrangler d1 execute` by scripts/keys-rotate.ts: both
// paths run the same SQL.
import type { JwtAlg } from '../config';
import type { SealedKey } from '../tokens/key-material';
import type { SigningKeyRow } from './schema';

export type KeyStatus = 'next' | 'active' | 'retired';
export type SqlValue = string | number | null;

export interface Statement {
  sql: string;
  params: SqlValue[];
}

/** A row as the ring reads it (columns aliased to the drizzle names in schema.ts). */
export type KeyRow = SigningKeyRow;

/** A key row as GET /admin/keys shows it: no private material. */
export interface KeyInfo {
  kid: string;
  alg: JwtAlg;
  status: KeyStatus;
  created_at: number;
  activated_at: number | null;
  retired_at: number | null;
  retire_after: number | null;
}

const COLUMNS = `kid, alg, public_jwk AS publicJwk, private_enc AS privateEnc, status, created_at AS createdAt,
  activated_at AS activatedAt, retired_at AS retiredAt, retire_after AS retireAfter`;

function insert(key: SealedKey, status: 'active' | 'next', now: number): Statement {
  return {
    // No conflict target: the statement is a no-op when the one-active (or one-next) index, or the
    // kid, is taken. That is what makes concurrent creation safe.
    sql: `INSERT INTO signing_keys (kid, alg, public_jwk, private_enc, status, created_at, activated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    params: [key.kid, key.alg, key.publicJwk, key.privateEnc, status, now, status === 'active' ? now : null],
  };
}

const currentKeys = (alg: JwtAlg): Statement => ({
  sql: `SELECT kid, status FROM signing_keys WHERE alg = ? AND status IN ('active', 'next') ORDER BY status`,
  params: [alg],
});

/** Creates the active and the next key where either is missing (the first use of an algorithm). */
export function ensureKeysStatements(active: SealedKey, next: SealedKey, now: number): Statement[] {
  return [insert(active, 'active', now), insert(next, 'next', now), currentKeys(active.alg)];
}

/** Retired keys whose overlap has ended: no token they signed can still be accepted. */
export function purgeStatement(now: number): Statement {
  return { sql: `DELETE FROM signing_keys WHERE status = 'retired' AND retire_after <= ?`, params: [now] };
}

/**
 * One rotation: the active key retires (verifying for `overlap` more seconds), the published next
 * key becomes active, a fresh key is published as next, and keys whose overlap has ended are
 * deleted (their encrypted private halves have no use left). `fallback` becomes active only when
 * there was no next key (a database that predates it); otherwise its insert is a no-op.
 */
export function rotationStatements(fresh: SealedKey, fallback: SealedKey, now: number, overlap: number): Statement[] {
  const alg = fresh.alg;
  return [
    {
      sql: `UPDATE signing_keys SET status = 'retired', retired_at = ?, retire_after = ? WHERE alg = ? AND status = 'active' RETURNING kid`,
      params: [now, now + overlap, alg],
    },
    { sql: `UPDATE signing_keys SET status = 'active', activated_at = ? WHERE alg = ? AND status = 'next'`, params: [now, alg] },
    insert(fallback, 'active', now),
    insert(fresh, 'next', now),
    purgeStatement(now),
    currentKeys(alg),
  ];
}

/** Keys that matter at `now`: active, next, and retired ones still inside their overlap. */
export function liveKeysStatement(alg: JwtAlg, now: number): Statement {
  return {
    sql: `SELECT ${COLUMNS} FROM signing_keys
      WHERE alg = ? AND (status IN ('active', 'next') OR retire_after > ?)
      ORDER BY CASE status WHEN 'active' THEN 0 WHEN 'next' THEN 1 ELSE 2 END, created_at DESC`,
    params: [alg, now],
  };
}

function prepare(db: D1Database, s: Statement): D1PreparedStatement {
  return db.prepare(s.sql).bind(...s.params);
}

export interface CurrentKids {
  active: string | undefined;
  next: string | undefined;
}

type KidRow = { kid: string; status?: string };

function kidsOf(rows: KidRow[] = []): CurrentKids {
  return { active: rows.find((r) => r.status === 'active')?.kid, next: rows.find((r) => r.status === 'next')?.kid };
}

/** The outcome of rotationStatements, from its per-statement result rows. */
export function rotationOutcome(results: KidRow[][]): CurrentKids & { retired: string | undefined } {
  return { ...kidsOf(results.at(-1)), retired: results[0]?.[0]?.kid };
}

/** Runs statements as one D1 batch (a transaction). */
async function batch(db: D1Database, statements: Statement[]): Promise<KidRow[][]> {
  const results = await db.batch<KidRow>(statements.map((s) => prepare(db, s)));
  return results.map((r) => r.results ?? []);
}

export async function insertMissingKeys(db: D1Database, active: SealedKey, next: SealedKey, now: number): Promise<CurrentKids> {
  return kidsOf((await batch(db, ensureKeysStatements(active, next, now))).at(-1));
}

export async function rotateKeys(
  db: D1Database,
  fresh: SealedKey,
  fallback: SealedKey,
  now: number,
  overlap: number,
): Promise<CurrentKids & { retired: string | undefined }> {
  return rotationOutcome(await batch(db, rotationStatements(fresh, fallback, now, overlap)));
}

export async function purgeRetired(db: D1Database, now: number): Promise<number> {
  const result = await prepare(db, purgeStatement(now)).run();
  return result.meta.changes ?? 0;
}

export async function liveKeys(db: D1Database, alg: JwtAlg, now: number): Promise<KeyRow[]> {
  const { results } = await prepare(db, liveKeysStatement(alg, now)).all<KeyRow>();
  return results;
}

/** Every stored key, newest first, without private material. */
export async function listKeys(db: D1Database): Promise<KeyInfo[]> {
  const { results } = await db
    .prepare(
      `SELECT kid, alg, status, created_at, activated_at, retired_at, retire_after FROM signing_keys
       ORDER BY CASE status WHEN 'active' THEN 0 WHEN 'next' THEN 1 ELSE 2 END, created_at DESC`,
    )
    .all<KeyInfo>();
  return results;
}
