// Single-use tokens sent by email (verify, reset, change). The token is 256 random bits shown only
// in the link; D1 keeps its SHA-256. Every decision is one conditional statement:
//   - issue: inserted only while the address has had fewer than MAIL_PER_ADDRESS_PER_HOUR tokens in
//     the last hour (the hard per-address throttle: no mail bombing, whatever the location), and in
//     the same batch the user's older tokens of that kind are voided, so only the newest link works;
//   - consume: `UPDATE ... WHERE used_at IS NULL AND expires_at > ? RETURNING`, so of two
//     concurrent uses exactly one gets the row; a reset token also needs the password generation
//     it was issued under (void after any password change).
import { sha256 } from '../crypto/digest';
import { randomToken } from '../crypto/random';

export type EmailTokenKind = 'verify' | 'reset' | 'change';

/** Links (of any kind) one address may receive per hour. */
export const MAIL_PER_ADDRESS_PER_HOUR = 5;
export const MAIL_THROTTLE_WINDOW_SECONDS = 3600;
/** 32 bytes = 256 bits (docs/email.md). */
export const EMAIL_TOKEN_BYTES = 32;

export interface NewEmailToken {
  kind: EmailTokenKind;
  userId: string;
  email: string;
  emailKey: string;
  passwordGeneration: number;
}

/** Issues a token; undefined when the address has reached its hourly budget. */
export async function issueEmailToken(db: D1Database, input: NewEmailToken, ttl: number, now: number): Promise<string | undefined> {
  const token = randomToken(EMAIL_TOKEN_BYTES);
  const hash = await sha256(token);
  const [inserted] = await db.batch([
    db
      .prepare(
        `INSERT INTO email_tokens (token_hash, kind, user_id, email, email_key, password_generation, created_at, expires_at)
         SELECT ?, ?, ?, ?, ?, ?, ?, ?
         WHERE (SELECT count(*) FROM email_tokens WHERE email_key = ? AND created_at > ?) < ?`,
      )
      .bind(hash, input.kind, input.userId, input.email, input.emailKey, input.passwordGeneration, now, now + ttl, input.emailKey, now - MAIL_THROTTLE_WINDOW_SECONDS, MAIL_PER_ADDRESS_PER_HOUR),
    db
      .prepare(
        `UPDATE email_tokens SET used_at = ? WHERE user_id = ? AND kind = ? AND used_at IS NULL AND token_hash != ?
         AND EXISTS (SELECT 1 FROM email_tokens WHERE token_hash = ?)`,
      )
      .bind(now, input.userId, input.kind, hash, hash),
  ]);
  return (inserted?.meta.changes ?? 0) === 1 ? token : undefined;
}

export interface ConsumedToken {
  kind: EmailTokenKind;
  userId: string;
  email: string;
  emailKey: string;
  passwordGeneration: number;
}

/** Uses the token if it is one of `kinds`, unused, unexpired (and for a reset, still current). */
export async function consumeEmailToken(db: D1Database, token: string, kinds: readonly EmailTokenKind[], now: number): Promise<ConsumedToken | undefined> {
  const hash = await sha256(token);
  const row = await db
    .prepare(
      `UPDATE email_tokens SET used_at = ?
       WHERE token_hash = ? AND kind IN (SELECT value FROM json_each(?)) AND used_at IS NULL AND expires_at > ?
         AND (kind != 'reset' OR password_generation = (SELECT u.password_generation FROM users AS u WHERE u.id = email_tokens.user_id))
       RETURNING kind, user_id, email, email_key, password_generation`,
    )
    .bind(now, hash, JSON.stringify(kinds), now)
    .first<{ kind: EmailTokenKind; user_id: string; email: string; email_key: string; password_generation: number }>();
  if (!row) return undefined;
  return { kind: row.kind, userId: row.user_id, email: row.email, emailKey: row.email_key, passwordGeneration: row.password_generation };
}
