// D1 schema (drizzle). Every table is described in docs/storage.md. Times are Unix seconds.
// Changes go into a new migration (`npm run db:generate`), never into an applied one.
import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

export const users = sqliteTable(
  'users',
  {
    id: text('id').primaryKey(),
    /** As the user chose it, after NFKC normalisation. */
    username: text('username').notNull(),
    /** Lower-cased `username`: the case-insensitive unique key. */
    usernameKey: text('username_key').notNull(),
    /**
     * Look-alike skeleton of `username` (lib/validation.ts usernameSkeleton): unique, so 'aIice'
     * cannot register beside 'alice'. Null only for accounts that already collided when the column
     * was added (the oldest one keeps the skeleton).
     */
    usernameSkeleton: text('username_skeleton'),
    email: text('email'),
    /** PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash). */
    passwordHash: text('password_hash').notNull(),
    /** JSON array of role names. */
    roles: text('roles').notNull().default('[]'),
    disabled: integer('disabled', { mode: 'boolean' }).notNull().default(false),
    failedLogins: integer('failed_logins').notNull().default(0),
    lockedUntil: integer('locked_until'),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [uniqueIndex('users_username_key_unique').on(t.usernameKey), uniqueIndex('users_username_skeleton_unique').on(t.usernameSkeleton)],
);

export const sessions = sqliteTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** Rotation counter: every refresh is `UPDATE ... WHERE generation = ?`. */
    generation: integer('generation').notNull().default(0),
    /** SHA-256 (base64url) of the current refresh token. */
    currentHash: text('current_hash').notNull(),
    /** SHA-256 of the refresh token it replaced (the grace-window parent). */
    previousHash: text('previous_hash'),
    rotatedAt: integer('rotated_at'),
    createdAt: integer('created_at').notNull(),
    /** Last time a token was issued for this session (login or refresh). */
    lastUsedAt: integer('last_used_at').notNull(),
    /** Sliding refresh expiry, never past `expiresAt`. */
    refreshExpiresAt: integer('refresh_expires_at').notNull(),
    /** Absolute end of the session (created + SESSION_MAX_AGE). */
    expiresAt: integer('expires_at').notNull(),
    userAgent: text('user_agent'),
    ip: text('ip'),
    revokedAt: integer('revoked_at'),
    revokedReason: text('revoked_reason'),
    /** RFC 8176 methods of the sign-in that started the session (JSON array), kept across refreshes. */
    amr: text('amr').notNull().default('["pwd"]'),
  },
  (t) => [
    index('sessions_user_idx').on(t.userId, t.revokedAt),
    index('sessions_current_hash_idx').on(t.currentHash),
    index('sessions_previous_hash_idx').on(t.previousHash),
    index('sessions_expires_idx').on(t.expiresAt),
  ],
);

export const signingKeys = sqliteTable(
  'signing_keys',
  {
    kid: text('kid').primaryKey(),
    alg: text('alg', { enum: ['HS256', 'ES256'] }).notNull(),
    /** Public JWK (JSON) for asymmetric keys; null for HS256. */
    publicJwk: text('public_jwk'),
    /** Private JWK / secret, AES-GCM encrypted under KEY_ENCRYPTION_KEY (see crypto/encrypt.ts). */
    privateEnc: text('private_enc').notNull(),
    /** next: published, not yet signing; active: signs; retired: verifies until `retireAfter`. */
    status: text('status', { enum: ['next', 'active', 'retired'] }).notNull(),
    createdAt: integer('created_at').notNull(),
    /** When the key started signing (null while `next`). */
    activatedAt: integer('activated_at'),
    retiredAt: integer('retired_at'),
    /** When a retired key stops verifying and leaves the JWKS. */
    retireAfter: integer('retire_after'),
  },
  // At most one active and one next key per algorithm: concurrent creation cannot make two.
  (t) => [
    uniqueIndex('signing_keys_one_active').on(t.alg).where(sql`status = 'active'`),
    uniqueIndex('signing_keys_one_next').on(t.alg).where(sql`status = 'next'`),
  ],
);

/** Personal API keys (docs/machine-clients.md). The key itself is shown once; only its SHA-256 is kept. */
export const apiKeys = sqliteTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** The key's first characters (prefix and a few random ones), to recognise it in a list. */
    displayPrefix: text('display_prefix').notNull(),
    /** SHA-256 (base64url) of the whole key: looked up by it, never stored raw. */
    keyHash: text('key_hash').notNull(),
    /** JSON array: the roles the key may use, a subset of its owner's (intersected at use). */
    roles: text('roles').notNull(),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
    /** Written at most once per key per LAST_USED_INTERVAL, off the response path. */
    lastUsedAt: integer('last_used_at'),
    revokedAt: integer('revoked_at'),
  },
  (t) => [uniqueIndex('api_keys_hash_unique').on(t.keyHash), index('api_keys_user_idx').on(t.userId, t.revokedAt)],
);

/** OAuth 2 service clients (client_credentials). Secrets are 256-bit random: SHA-256 suffices. */
export const oauthClients = sqliteTable('oauth_clients', {
  /** The public client_id. */
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  /** JSON array of the roles the client may hold; `scope` narrows them per token. */
  roles: text('roles').notNull(),
  secretHash: text('secret_hash').notNull(),
  /** The secret a rotation replaced, accepted until `previous_expires_at`. */
  previousSecretHash: text('previous_secret_hash'),
  previousExpiresAt: integer('previous_expires_at'),
  disabled: integer('disabled', { mode: 'boolean' }).notNull().default(false),
  /** Lockout, as for passwords (db/lockout.ts): consecutive failed secret checks. */
  failedAttempts: integer('failed_attempts').notNull().default(0),
  lockedUntil: integer('locked_until'),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
});

export const auditLog = sqliteTable(
  'audit_log',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    at: integer('at').notNull(),
    event: text('event').notNull(),
    outcome: text('outcome', { enum: ['success', 'failure'] }).notNull(),
    actorId: text('actor_id'),
    subjectId: text('subject_id'),
    ip: text('ip'),
    userAgent: text('user_agent'),
    requestId: text('request_id'),
    /** JSON object with non-secret detail (reason codes, role lists, kid). */
    detail: text('detail'),
  },
  (t) => [
    index('audit_at_idx').on(t.at),
    index('audit_subject_idx').on(t.subjectId, t.at),
    index('audit_event_idx').on(t.event, t.at),
  ],
);

/**
 * Usage counters (src/usage, docs/usage.md): one row per subject x route key x UTC hour, added to by
 * the per-isolate meter's batched upserts (`requests = requests + excluded.requests`). The primary
 * key serves a subject's own usage; the hour index serves the admin listing and the retention.
 */
export const usageCounters = sqliteTable(
  'usage_counters',
  {
    /** user, api_key or client. */
    subjectType: text('subject_type').notNull(),
    /** The user id, the API key id, or the client_id. */
    subjectId: text('subject_id').notNull(),
    /** "<METHOD> <pattern>": the route as configured, never the raw path. */
    route: text('route').notNull(),
    /** Start of the UTC hour, Unix seconds. */
    hour: integer('hour').notNull(),
    requests: integer('requests').notNull().default(0),
    status2xx: integer('status_2xx').notNull().default(0),
    status3xx: integer('status_3xx').notNull().default(0),
    status4xx: integer('status_4xx').notNull().default(0),
    status5xx: integer('status_5xx').notNull().default(0),
    bytesIn: integer('bytes_in').notNull().default(0),
    bytesOut: integer('bytes_out').notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.subjectType, t.subjectId, t.route, t.hour] }),
    index('usage_hour_idx').on(t.hour, t.subjectType, t.subjectId, t.route),
  ],
);

export type UserRow = typeof users.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type SigningKeyRow = typeof signingKeys.$inferSelect;
export type AuditRow = typeof auditLog.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type OAuthClientRow = typeof oauthClients.$inferSelect;
