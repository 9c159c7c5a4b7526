// Short-lived, single-use records in D1 (mfa_challenges): the mfa_token of a half-finished login
// and the challenges of WebAuthn ceremonies. Kept by SHA-256 of the value, never raw. "Single use"
// must be exact (docs/consistency.md), so consumption is one conditional UPDATE: of two requests
// racing with the same value, one gets the row back and the other nothing. Not KV: KV has no
// compare-and-set and a write can take 60 s to be seen elsewhere.
import { and, eq, gt, isNull } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { sha256 } from '../crypto/digest';
import { mfaChallenges } from './schema';

export type ChallengeKind = (typeof mfaChallenges.$inferSelect)['kind'];

/** The mfa_token's lifetime: long enough to open an authenticator app, short enough to be worth little. */
export const MFA_TOKEN_TTL = 300;
/** A WebAuthn ceremony's lifetime (and the `timeout` the browser is given). */
export const WEBAUTHN_CHALLENGE_TTL = 180;

export async function storeChallenge(db: D1Database, value: string, kind: ChallengeKind, userId: string | null, ttl: number, now: number): Promise<void> {
  await drizzle(db).insert(mfaChallenges).values({ idHash: await sha256(value), kind, userId, expiresAt: now + ttl, createdAt: now }).run();
}

/** A live, unused record of `kind` (not consumed): whose it is. */
export async function peekChallenge(db: D1Database, value: string, kind: ChallengeKind, now: number): Promise<{ userId: string | null } | undefined> {
  return drizzle(db)
    .select({ userId: mfaChallenges.userId })
    .from(mfaChallenges)
    .where(and(eq(mfaChallenges.idHash, await sha256(value)), eq(mfaChallenges.kind, kind), isNull(mfaChallenges.usedAt), gt(mfaChallenges.expiresAt, now)))
    .get();
}

/** Uses the record once: the caller that gets it back is the only one; later ones get undefined. */
export async function consumeChallenge(db: D1Database, value: string, kind: ChallengeKind, now: number): Promise<{ userId: string | null } | undefined> {
  const rows = await drizzle(db)
    .update(mfaChallenges)
    .set({ usedAt: now })
    .where(and(eq(mfaChallenges.idHash, await sha256(value)), eq(mfaChallenges.kind, kind), isNull(mfaChallenges.usedAt), gt(mfaChallenges.expiresAt, now)))
    .returning({ userId: mfaChallenges.userId });
  return rows[0];
}

