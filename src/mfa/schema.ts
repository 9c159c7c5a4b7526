// D1 tables of second factors (docs/storage.md, docs/mfa.md). Times are Unix seconds. Kept apart
// from db/schema.ts so the feature's storage reads in one place; drizzle.config.ts lists both.
import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { users } from '../db/schema';

/** One TOTP authenticator per user. The secret must be read back, so it is encrypted, not hashed. */
export const mfaTotp = sqliteTable('mfa_totp', {
  userId: text('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  /** Base32 secret, AES-GCM under KEY_ENCRYPTION_KEY with the user id as associated data (crypto/encrypt.ts). */
  secretEnc: text('secret_enc').notNull(),
  /** Null while set up but not confirmed with a code: a pending secret is no factor yet. */
  enabledAt: integer('enabled_at'),
  /** Last RFC 6238 time step accepted: a code at or before it is refused (replay). */
  lastStep: integer('last_step').notNull().default(0),
  createdAt: integer('created_at').notNull(),
});

/** Single-use recovery codes, SHA-256 at rest (128 random bits each: no slow hash needed). */
export const mfaRecoveryCodes = sqliteTable(
  'mfa_recovery_codes',
  {
    codeHash: text('code_hash').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: integer('created_at').notNull(),
    usedAt: integer('used_at'),
  },
  (t) => [index('mfa_recovery_user_idx').on(t.userId, t.usedAt)],
);

/** Passkeys (WebAuthn credentials). Only public keys: the private key never leaves the authenticator. */
export const webauthnCredentials = sqliteTable(
  'webauthn_credentials',
  {
    /** The credential id, base64url, as the authenticator returns it. */
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** COSE public key, base64url. */
    publicKey: text('public_key').notNull(),
    /** Signature counter (0 for authenticators that do not count, as passkeys usually are). */
    counter: integer('counter').notNull().default(0),
    /** JSON array of transports, a hint for allowCredentials. */
    transports: text('transports').notNull().default('[]'),
    /** singleDevice (hardware-bound: amr hwk) or multiDevice (synced: amr swk). */
    deviceType: text('device_type', { enum: ['singleDevice', 'multiDevice'] }).notNull(),
    backedUp: integer('backed_up', { mode: 'boolean' }).notNull().default(false),
    createdAt: integer('created_at').notNull(),
    lastUsedAt: integer('last_used_at'),
  },
  (t) => [index('webauthn_user_idx').on(t.userId)],
);

/**
 * Short-lived single-use records: the mfa_token of a half-finished login and WebAuthn challenges.
 * Keyed by SHA-256 of the token or challenge; consumed by one conditional UPDATE (used_at IS NULL).
 */
export const mfaChallenges = sqliteTable(
  'mfa_challenges',
  {
    idHash: text('id_hash').primaryKey(),
    kind: text('kind', { enum: ['mfa_login', 'webauthn_register', 'webauthn_login', 'webauthn_mfa'] }).notNull(),
    /** The user it belongs to; null for a passkey sign-in challenge (nobody is known yet). */
    userId: text('user_id').references(() => users.id, { onDelete: 'cascade' }),
    expiresAt: integer('expires_at').notNull(),
    usedAt: integer('used_at'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('mfa_challenges_expires_idx').on(t.expiresAt)],
);

export type TotpRow = typeof mfaTotp.$inferSelect;
export type WebauthnCredentialRow = typeof webauthnCredentials.$inferSelect;
