// Account lockout in D1: consecutive failed password checks per account, counted where every
// location sees the same number (the rate-limiting bindings count per location only).
//
// An attempt is counted BEFORE the password is verified, by one conditional UPDATE that admits it
// only while the account is not locked. Concurrent guesses are therefore serialised by D1: at most
// LOCKOUT_THRESHOLD of them are ever verified before the lock holds, however many arrive at once
// (a read-then-write would let a burst of parallel guesses all pass the check). A verified
// password resets the count; a failed one has already been counted.
import { and, eq, isNotNull, isNull, lte, or, sql, type SQL } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { users, type UserRow } from './schema';

/** Consecutive failures that lock an account. */
export const LOCKOUT_THRESHOLD = 5;
/** Lock length at the threshold; each further failure (after the lock expired) doubles it. */
export const LOCKOUT_BASE_SECONDS = 60;
/** Longest lock: from then on an attacker gets one guess an hour per account. */
export const LOCKOUT_MAX_SECONDS = 3600;
// 60 << 6 already exceeds the cap; bounding the exponent keeps SQLite's shift well-defined.
const MAX_DOUBLINGS = 16;

/** Seconds an account is locked after its `failures`-th consecutive failure (0: not locked). */
export function lockoutSeconds(failures: number): number {
  if (failures < LOCKOUT_THRESHOLD) return 0;
  return Math.min(LOCKOUT_BASE_SECONDS * 2 ** Math.min(failures - LOCKOUT_THRESHOLD, MAX_DOUBLINGS), LOCKOUT_MAX_SECONDS);
}

/** Which second factors the account has (src/mfa): read in the same batch, so a login pays no extra round trip. */
export interface FactorFlags {
  totp: boolean;
  passkeys: boolean;
  recovery: boolean;
}

export type AttemptOutcome =
  /** Admitted and counted: verify the password, then `clearFailedLogins` if it was right. */
  | { kind: 'admitted'; user: UserRow; factors: FactorFlags }
  /** The account exists but is locked: do not verify anything. */
  | { kind: 'locked'; userId: string; lockedUntil: number }
  | { kind: 'unknown' };

/**
 * Admits and counts one password attempt for the account `where` selects. One round trip for
 * every outcome (a D1 batch is one transaction): the conditional UPDATE, then a read that tells
 * a locked account from an unknown one, so neither costs a different number of round trips, and
 * the account's second factors, so a login learns whether it needs one without another.
 */
async function admitAttempt(db: D1Database, where: SQL, now: number): Promise<AttemptOutcome> {
  const d = drizzle(db);
  const failures = sql`${users.failedLogins} + 1`; // SET expressions read the row's old values
  const [admitted, current, factors] = await d.batch([
    d
      .update(users)
      .set({
        failedLogins: failures,
        lockedUntil: sql`CASE WHEN ${failures} >= ${LOCKOUT_THRESHOLD}
          THEN ${now} + min(${LOCKOUT_BASE_SECONDS} << min(${failures} - ${LOCKOUT_THRESHOLD}, ${MAX_DOUBLINGS}), ${LOCKOUT_MAX_SECONDS})
          ELSE ${users.lockedUntil} END`,
      })
      .where(and(where, or(isNull(users.lockedUntil), lte(users.lockedUntil, now))))
      .returning(),
    d.select({ id: users.id, lockedUntil: users.lockedUntil }).from(users).where(where),
    d
      .select({
        // users.id spelled out: drizzle renders a column of the only table unqualified, and an
        // unqualified "id" inside these subqueries would be the inner table's own id.
        totp: sql<number>`EXISTS (SELECT 1 FROM mfa_totp WHERE mfa_totp.user_id = users.id AND mfa_totp.enabled_at IS NOT NULL)`,
        passkeys: sql<number>`EXISTS (SELECT 1 FROM webauthn_credentials WHERE webauthn_credentials.user_id = users.id)`,
        recovery: sql<number>`EXISTS (SELECT 1 FROM mfa_recovery_codes WHERE mfa_recovery_codes.user_id = users.id AND mfa_recovery_codes.used_at IS NULL)`,
      })
      .from(users)
      .where(where),
  ]);
  const user = admitted[0];
  if (user) {
    const f = factors[0];
    return { kind: 'admitted', user, factors: { totp: Boolean(f?.totp), passkeys: Boolean(f?.passkeys), recovery: Boolean(f?.recovery) } };
  }
  const row = current[0];
  if (row && row.lockedUntil !== null && row.lockedUntil > now) return { kind: 'locked', userId: row.id, lockedUntil: row.lockedUntil };
  return { kind: 'unknown' };
}

/** A login attempt for the (normalised, lower-cased) username key. */
export function admitLoginAttempt(db: D1Database, usernameKey: string, now: number): Promise<AttemptOutcome> {
  return admitAttempt(db, eq(users.usernameKey, usernameKey), now);
}

/**
 * A login attempt by email address: only an address verified on the account signs in (one account
 * per verified address: users_verified_email_unique), anything else is an unknown user.
 */
export function admitEmailLoginAttempt(db: D1Database, emailKey: string, now: number): Promise<AttemptOutcome> {
  return admitAttempt(db, and(eq(users.emailKey, emailKey), isNotNull(users.emailVerifiedAt))!, now);
}

/** A password check of a known account (the current password of a password change). */
export function admitPasswordAttempt(db: D1Database, userId: string, now: number): Promise<AttemptOutcome> {
  return admitAttempt(db, eq(users.id, userId), now);
}

/** After a verified password: the count starts again from zero. (Admin unlock: db/users.ts unlockUser.) */
export async function clearFailedLogins(db: D1Database, userId: string): Promise<void> {
  await drizzle(db).update(users).set({ failedLogins: 0, lockedUntil: null }).where(eq(users.id, userId)).run();
}

/**
 * A right password that only opens a second-factor step (src/mfa/pending.ts): its attempt is
 * taken back rather than the count cleared, so failures (wrong passwords and wrong codes) keep
 * adding up until the whole sign-in succeeds. The account was unlocked when the attempt was
 * admitted, so a lock this very attempt started is lifted with it.
 */
export async function refundAttempt(db: D1Database, userId: string): Promise<void> {
  await drizzle(db)
    .update(users)
    .set({ failedLogins: sql`max(${users.failedLogins} - 1, 0)`, lockedUntil: null })
    .where(eq(users.id, userId))
    .run();
}
