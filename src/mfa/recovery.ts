// Recovery codes: ten single-use codes handed out once when TOTP is enabled (or regenerated),
// for the day the authenticator is lost. 80 random bits each, so SHA-256 at rest is enough (no
// slow hash: nobody can enumerate 2^80 candidates). Using one is one conditional UPDATE
// (used_at IS NULL): two requests racing with the same code cannot both succeed.
import { and, count, eq, isNull } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { sha256 } from '../crypto/digest';
import { base32Encode } from './otp';
import { mfaRecoveryCodes } from './schema';

export const RECOVERY_CODE_COUNT = 10;
const RECOVERY_CODE_BYTES = 10; // 80 bits: 16 base32 characters
/** As shown: four groups of four, lower case (easier to copy than base32's capitals). */
export const RECOVERY_CODE_PATTERN = /^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/;

function newCode(): string {
  const raw = base32Encode(crypto.getRandomValues(new Uint8Array(RECOVERY_CODE_BYTES))).toLowerCase();
  return raw.match(/.{4}/g)!.join('-');
}

/** What users type: any case, spaces or dashes anywhere. Undefined when it cannot be a code. */
export function normaliseRecoveryCode(input: string): string | undefined {
  const compact = input.toLowerCase().replace(/[\s-]/g, '');
  if (!/^[a-z2-7]{16}$/.test(compact)) return undefined;
  return compact.match(/.{4}/g)!.join('-');
}

/** Replaces the user's codes with ten new ones (one D1 batch, a transaction); returns them, once. */
export async function issueRecoveryCodes(db: D1Database, userId: string, now: number): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newCode);
  const rows = await Promise.all(codes.map(async (code) => ({ codeHash: await sha256(code), userId, createdAt: now })));
  const d = drizzle(db);
  await d.batch([d.delete(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, userId)), d.insert(mfaRecoveryCodes).values(rows)]);
  return codes;
}

/** Uses one code of this user: true for exactly one caller, however many race with it. */
export async function useRecoveryCode(db: D1Database, userId: string, input: string, now: number): Promise<boolean> {
  const code = normaliseRecoveryCode(input);
  if (!code) return false;
  const result = await drizzle(db)
    .update(mfaRecoveryCodes)
    .set({ usedAt: now })
    .where(and(eq(mfaRecoveryCodes.codeHash, await sha256(code)), eq(mfaRecoveryCodes.userId, userId), isNull(mfaRecoveryCodes.usedAt)))
    .run();
  return (result.meta.changes ?? 0) === 1;
}

export async function remainingRecoveryCodes(db: D1Database, userId: string): Promise<number> {
  const row = await drizzle(db)
    .select({ n: count() })
    .from(mfaRecoveryCodes)
    .where(and(eq(mfaRecoveryCodes.userId, userId), isNull(mfaRecoveryCodes.usedAt)))
    .get();
  return row?.n ?? 0;
}

export async function deleteRecoveryCodes(db: D1Database, userId: string): Promise<void> {
  await drizzle(db).delete(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, userId)).run();
}
