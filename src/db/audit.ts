// The audit log in D1: who did what, to whom, from where, with what outcome. `detail` holds only
// non-secret facts (reason codes, role lists, kids): never a password, token or hash.
import { and, desc, eq, gte, lt, lte } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { auditLog, type AuditRow } from './schema';

export type AuditEvent =
  | 'register'
  | 'login'
  | 'refresh_reuse_detected'
  | 'logout'
  | 'logout_all'
  | 'session_end'
  | 'password_change'
  | 'role_change'
  | 'user_update'
  | 'user_disable'
  | 'user_enable'
  | 'user_delete'
  | 'user_unlock'
  | 'admin_sessions_end'
  | 'key_rotate'
  | 'user_create_cli'
  | 'api_key_create'
  | 'api_key_revoke'
  | 'client_create'
  | 'client_update'
  | 'client_disable'
  | 'client_enable'
  | 'client_secret_rotate'
  | 'client_delete'
  | 'client_token'
  | 'token_revoke'
  | 'mfa_totp_setup'
  | 'mfa_totp_enable'
  | 'mfa_totp_disable'
  | 'mfa_recovery_regenerate'
  | 'mfa_verify'
  | 'mfa_reset'
  | 'passkey_register'
  | 'passkey_rename'
  | 'passkey_delete'
  | 'passkey_login'
  | 'email_verify_request'
  | 'email_verify'
  | 'email_change_request'
  | 'email_change'
  | 'password_forgot'
  | 'password_reset';

export interface AuditEntry {
  event: AuditEvent;
  outcome: 'success' | 'failure';
  actorId?: string | null;
  subjectId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
  detail?: Record<string, string | number | boolean | string[] | null>;
}

const INSERT_AUDIT = `INSERT INTO audit_log (at, event, outcome, actor_id, subject_id, ip, user_agent, request_id, detail)`;

/**
 * The insert of one audit row as a statement, so it can join a batch (one round trip, one
 * transaction). With `onlyIf`, the row is written only if the session `id` exists (or does not):
 * a login logs its success or its failure from the same batch that decided which it was.
 */
export function auditStatement(db: D1Database, entry: AuditEntry, now: number, onlyIf?: { session: string; exists: boolean }): D1PreparedStatement {
  const values = [
    now,
    entry.event,
    entry.outcome,
    entry.actorId ?? null,
    entry.subjectId ?? null,
    entry.ip ?? null,
    entry.userAgent ?? null,
    entry.requestId ?? null,
    entry.detail ? JSON.stringify(entry.detail) : null,
  ];
  if (!onlyIf) return db.prepare(`${INSERT_AUDIT} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).bind(...values);
  const test = onlyIf.exists ? 'EXISTS' : 'NOT EXISTS';
  return db
    .prepare(`${INSERT_AUDIT} SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE ${test} (SELECT 1 FROM sessions WHERE id = ?)`)
    .bind(...values, onlyIf.session);
}

export async function recordAudit(db: D1Database, entry: AuditEntry, now: number): Promise<void> {
  await auditStatement(db, entry, now).run();
}

export interface AuditFilter {
  /** Only rows about this user (subject_id). */
  subjectId?: string | undefined;
  /** Only rows this user caused (actor_id). */
  actorId?: string | undefined;
  event?: string | undefined;
  outcome?: 'success' | 'failure' | undefined;
  /** Inclusive bounds on `at` (Unix seconds). */
  since?: number | undefined;
  until?: number | undefined;
  /** Keyset pagination: only rows with a smaller id (newest first). */
  beforeId?: number | undefined;
  limit: number;
}

export async function listAudit(db: D1Database, f: AuditFilter): Promise<AuditRow[]> {
  return drizzle(db)
    .select()
    .from(auditLog)
    .where(
      and(
        f.subjectId !== undefined ? eq(auditLog.subjectId, f.subjectId) : undefined,
        f.actorId !== undefined ? eq(auditLog.actorId, f.actorId) : undefined,
        f.event !== undefined ? eq(auditLog.event, f.event) : undefined,
        f.outcome !== undefined ? eq(auditLog.outcome, f.outcome) : undefined,
        f.since !== undefined ? gte(auditLog.at, f.since) : undefined,
        f.until !== undefined ? lte(auditLog.at, f.until) : undefined,
        f.beforeId !== undefined ? lt(auditLog.id, f.beforeId) : undefined,
      ),
    )
    .orderBy(desc(auditLog.id))
    .limit(f.limit)
    .all();
}

/** The API shape of an audit row: `detail` parsed back into an object. */
export function toAuditView(row: AuditRow) {
  let detail: unknown = null;
  if (row.detail !== null) {
    try {
      detail = JSON.parse(row.detail);
    } catch {
      detail = null;
    }
  }
  return {
    id: row.id,
    at: row.at,
    event: row.event,
    outcome: row.outcome,
    actor_id: row.actorId,
    subject_id: row.subjectId,
    ip: row.ip,
    user_agent: row.userAgent,
    request_id: row.requestId,
    detail,
  };
}
