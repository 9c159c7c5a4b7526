// The TOTP factor: set up (pending), confirmed with a first code (enabled, recovery codes issued),
// verified at sign-in, disabled. The secret is encrypted at rest like the signing keys
// (crypto/encrypt.ts, AES-GCM under KEY_ENCRYPTION_KEY), bound to its user by the associated data.
// Replay: the last accepted time step is stored and advanced by one conditional UPDATE
// (last_step < step), so a code is accepted once even by two requests racing with it.
import { and, eq, isNotNull, isNull, lt } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import type { Config } from '../config';
import { decryptSecret, encryptSecret } from '../crypto/encrypt';
import { AppError } from '../errors';
import { generateTotpSecret, matchTotp, otpauthUri } from './otp';
import { mfaTotp, type TotpRow } from './schema';

const aad = (userId: string) => `totp:${userId}`;

export async function findTotp(db: D1Database, userId: string): Promise<TotpRow | undefined> {
  return drizzle(db).select().from(mfaTotp).where(eq(mfaTotp.userId, userId)).get();
}

/**
 * A new pending secret (replacing an unconfirmed one). Refused with 409 when TOTP is already
 * enabled: a second setup must not silently replace a working authenticator.
 */
export async function beginTotpSetup(db: D1Database, config: Config, user: { id: string; username: string }, now: number): Promise<{ secret: string; uri: string }> {
  const secret = generateTotpSecret();
  const secretEnc = await encryptSecret(config.keyEncryptionKey, secret, aad(user.id));
  const result = await db
    .prepare(
      `INSERT INTO mfa_totp (user_id, secret_enc, enabled_at, last_step, created_at) VALUES (?, ?, NULL, 0, ?)
       ON CONFLICT (user_id) DO UPDATE SET secret_enc = excluded.secret_enc, last_step = 0, created_at = excluded.created_at
       WHERE mfa_totp.enabled_at IS NULL`,
    )
    .bind(user.id, secretEnc, now)
    .run();
  if ((result.meta.changes ?? 0) !== 1) throw new AppError('conflict', 'TOTP is already enabled; disable it first to set up a new authenticator.');
  return { secret, uri: otpauthUri(secret, config.webauthn.rpName, user.username) };
}

async function secretOf(config: Config, row: TotpRow): Promise<string> {
  try {
    return await decryptSecret(config.keyEncryptionKey, row.secretEnc, aad(row.userId));
  } catch (err) {
    // A changed KEY_ENCRYPTION_KEY or a tampered row: an operator problem, never the caller's.
    throw new AppError('internal_error', undefined, { cause: err });
  }
}

/** Enables a pending secret when `code` is right. Throws 409 when there is nothing pending. */
export async function confirmTotp(db: D1Database, config: Config, userId: string, code: string, now: number): Promise<boolean> {
  const row = await findTotp(db, userId);
  if (!row || row.enabledAt !== null) throw new AppError('conflict', 'There is no TOTP setup to confirm; start one with /auth/mfa/totp/setup.');
  const step = await matchTotp(await secretOf(config, row), code, now, row.lastStep);
  if (step === undefined) return false;
  // Conditional on the very secret checked: a setup restarted meanwhile is not enabled by this code.
  const rows = await drizzle(db)
    .update(mfaTotp)
    .set({ enabledAt: now, lastStep: step })
    .where(and(eq(mfaTotp.userId, userId), isNull(mfaTotp.enabledAt), eq(mfaTotp.secretEnc, row.secretEnc)))
    .returning({ userId: mfaTotp.userId });
  if (rows.length !== 1) throw new AppError('conflict', 'The TOTP setup changed meanwhile; scan the new code.');
  return true;
}

/** A code of the enabled authenticator, accepted once (its time step recorded by a conditional UPDATE). */
export async function verifyTotp(db: D1Database, config: Config, userId: string, code: string, now: number): Promise<boolean> {
  const row = await findTotp(db, userId);
  if (!row || row.enabledAt === null) return false;
  const step = await matchTotp(await secretOf(config, row), code, now, row.lastStep);
  if (step === undefined) return false;
  const rows = await drizzle(db)
    .update(mfaTotp)
    .set({ lastStep: step })
    .where(and(eq(mfaTotp.userId, userId), isNotNull(mfaTotp.enabledAt), lt(mfaTotp.lastStep, step)))
    .returning({ userId: mfaTotp.userId });
  return rows.length === 1;
}

export async function deleteTotp(db: D1Database, userId: string): Promise<boolean> {
  const result = await drizzle(db).delete(mfaTotp).where(eq(mfaTotp.userId, userId)).run();
  return (result.meta.changes ?? 0) > 0;
}
