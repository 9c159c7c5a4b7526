// The SQL that `npm run user:create` runs through `wrangler d1 execute`. Pure functions, so the
// escaping can be tested without a database. Every value is validated before it gets here; it is
// still escaped as an SQL string literal, never pasted raw.
import { apiKeyCopy } from '../../src/tokens/api-key-copy';
import { coverSeconds, KV_MIN_TTL_SECONDS, sessionKey } from '../../src/tokens/revocation-plan';
import { ACCESS_TOKEN_TTL_MAX, CLOCK_LEEWAY_MAX } from '../../src/config';
import { normalizeEmail } from '../../src/lib/email';
import { parseRoles } from '../../src/lib/roles';

/** An SQL string literal: quotes doubled; NUL refused (SQLite would cut the string there). */
export function sqlString(value: string): string {
  if (value.includes('\u0000')) throw new Error('NUL character in an SQL value');
  return `'${value.replace(/'/g, "''")}'`;
}

function sqlInt(value: number): string {
  if (!Number.isSafeInteger(value)) throw new Error('not an integer');
  return String(value);
}

export interface UserWrite {
  id: string; // used only when the user is new
  username: string;
  usernameKey: string;
  usernameSkeleton: string;
  passwordHash: string;
  /** Undefined: keep an existing user's roles (a new user gets none). */
  roles: string[] | undefined;
  /** Undefined: keep an existing user's email. */
  email: string | undefined;
  now: number;
}

export const CLI_REASON = 'user_create_cli';

/** The accounts a new name would collide with: the same name (any case) or a look-alike of it. */
export function existingSql(usernameKey: string, usernameSkeleton: string): string {
  return `SELECT id, username, username_key, roles FROM users WHERE username_key = ${sqlString(usernameKey)} OR username_skeleton = ${sqlString(usernameSkeleton)};`;
}

function auditSql(u: UserWrite, created: boolean): string {
  const now = sqlInt(u.now);
  // Who (no actor: a shell with database access), what roles now, how many sessions ended.
  return `INSERT INTO audit_log (at, event, outcome, actor_id, subject_id, ip, user_agent, request_id, detail)
SELECT ${now}, ${sqlString(CLI_REASON)}, 'success', NULL, id, NULL, 'edge-auth user:create', NULL,
  json_object('roles', json(roles), 'created', json('${created}'),
    'sessions_ended', (SELECT count(*) FROM sessions WHERE user_id = users.id AND revoked_at = ${now} AND revoked_reason = ${sqlString(CLI_REASON)}))
FROM users WHERE ${created ? `id = ${sqlString(u.id)}` : `username_key = ${sqlString(u.usernameKey)}`};`;
}

/**
 * Creates the user, only if neither the name nor a look-alike of it exists (ON CONFLICT DO NOTHING
 * covers both unique indexes; the caller reads back whether its id was inserted).
 */
export function insertUserSql(u: UserWrite): string {
  const now = sqlInt(u.now);
  const email = u.email === undefined ? 'NULL' : sqlString(u.email);
  const emailKey = u.email === undefined ? 'NULL' : sqlString(normalizeEmail(u.email).key);
  return [
    `INSERT INTO users (id, username, username_key, username_skeleton, email, email_key, password_hash, roles, disabled, failed_logins, locked_until, created_at, updated_at)
VALUES (${sqlString(u.id)}, ${sqlString(u.username)}, ${sqlString(u.usernameKey)}, ${sqlString(u.usernameSkeleton)}, ${email}, ${emailKey}, ${sqlString(u.passwordHash)}, ${sqlString(JSON.stringify(u.roles ?? []))}, 0, 0, NULL, ${now}, ${now})
ON CONFLICT DO NOTHING;`,
    auditSql(u, true),
  ].join('\n');
}

/**
 * Updates the existing user of that name (never a look-alike): sets the password (and roles/email
 * when given; a new email is unverified), enables and unlocks the account, ends its sessions and
 * voids its reset links (as a password change does) and audits it. Only with --update-existing.
 */
export function updateUserSql(u: UserWrite): string {
  const now = sqlInt(u.now);
  const key = sqlString(u.usernameKey);
  return [
    `UPDATE users SET password_hash = ${sqlString(u.passwordHash)},
  roles = ${u.roles === undefined ? 'roles' : sqlString(JSON.stringify(u.roles))},
  email = ${u.email === undefined ? 'email' : sqlString(u.email)},
  email_key = ${u.email === undefined ? 'email_key' : sqlString(normalizeEmail(u.email).key)},
  email_verified_at = ${u.email === undefined ? 'email_verified_at' : 'NULL'},
  password_generation = password_generation + 1,
  disabled = 0, failed_logins = 0, locked_until = NULL, updated_at = ${now}
WHERE username_key = ${key};`,
    `UPDATE sessions SET revoked_at = ${now}, revoked_reason = ${sqlString(CLI_REASON)} WHERE user_id = (SELECT id FROM users WHERE username_key = ${key}) AND revoked_at IS NULL;`,
    auditSql(u, false),
  ].join('\n');
}

/**
 * Reads back what the upsert did: the user, the sessions it ended, and the user's live API keys
 * (liveKeysSql). No password hash is selected.
 */
export function resultSql(usernameKey: string, now: number): string {
  const key = sqlString(usernameKey);
  return [
    `SELECT id, username, roles, email FROM users WHERE username_key = ${key};`,
    `SELECT id, last_used_at FROM sessions WHERE user_id = (SELECT id FROM users WHERE username_key = ${key}) AND revoked_at = ${sqlInt(now)} AND revoked_reason = ${sqlString(CLI_REASON)};`,
    liveKeysSql(usernameKey, now),
  ].join('\n');
}

/** A live API key with its owner, as liveKeysSql reads it. */
export interface LiveKeyRow {
  id: string;
  key_hash: string;
  roles: string;
  expires_at: number;
  owner_id: string;
  owner_username: string;
  owner_roles: string;
}

/** The user's live API keys (unrevoked, unexpired, owner enabled), each with its owner's name and roles. */
export function liveKeysSql(usernameKey: string, now: number): string {
  return `SELECT k.id, k.key_hash, k.roles, k.expires_at, u.id AS owner_id, u.username AS owner_username, u.roles AS owner_roles
FROM api_keys k JOIN users u ON u.id = k.user_id
WHERE u.username_key = ${sqlString(usernameKey)} AND u.disabled = 0 AND k.revoked_at IS NULL AND k.expires_at > ${sqlInt(now)};`;
}

export interface KvEntry {
  key: string;
  value: string;
  expiration_ttl: number;
}

/**
 * The KV copies of live API keys, as the Worker writes them when an owner changes
 * (tokens/api-keys.ts syncApiKeys): the key's roles intersected with the owner's current ones, so
 * a demotion by the CLI reaches the keys within the revocation bound.
 */
export function apiKeyEntries(rows: readonly LiveKeyRow[], now: number): KvEntry[] {
  return rows.map((k) => {
    const owner = { id: k.owner_id, username: k.owner_username, roles: parseRoles(k.owner_roles) };
    const copy = apiKeyCopy({ id: k.id, keyHash: k.key_hash, roles: parseRoles(k.roles), expiresAt: k.expires_at }, owner, now);
    return { key: copy.key, value: JSON.stringify(copy.record), expiration_ttl: copy.ttl };
  });
}

/**
 * What to write again after the copies went out, from a second read of D1: a key revoked, an
 * owner disabled or a role changed through the API between the CLI's read and its KV write had
 * its copy deleted or rewritten by the Worker, which the CLI's write just undid. Copies that are
 * no longer live are deleted, changed ones rewritten.
 */
export function reconcileKeyCopies(written: readonly KvEntry[], current: readonly KvEntry[]): { put: KvEntry[]; remove: string[] } {
  const now = new Map(current.map((e) => [e.key, e.value]));
  const before = new Map(written.map((e) => [e.key, e.value]));
  return {
    put: current.filter((e) => before.get(e.key) !== e.value),
    remove: written.filter((e) => !now.has(e.key)).map((e) => e.key),
  };
}

/**
 * Revocation-list entries (the Worker's format, tokens/revocation.ts) for the ended sessions. The
 * CLI cannot know the deployment's ACCESS_TOKEN_TTL, so entries cover the longest one allowed.
 */
export function revocationEntries(ended: { id: string; last_used_at: number }[], now: number) {
  const timing = { accessTtl: ACCESS_TOKEN_TTL_MAX, leeway: CLOCK_LEEWAY_MAX };
  return ended
    .map((s) => ({ id: s.id, ttl: coverSeconds(s.last_used_at, timing, now) }))
    .filter((s) => s.ttl > 0)
    .map((s) => ({
      key: sessionKey(s.id),
      value: JSON.stringify({ at: now, reason: CLI_REASON }),
      expiration_ttl: Math.max(KV_MIN_TTL_SECONDS, s.ttl),
    }));
}
