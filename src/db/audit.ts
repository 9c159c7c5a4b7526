// The audit log in D1: who did what, to whom, from where, with what outcome. `detail` holds only
// non-secret facts (reason codes, role lists, kids): never a password, token or hash.
import { drizzle } from 'drizzle-orm/d1';
import { auditLog } from './schema';

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
  | 'user_create_cli';

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

export async function recordAudit(db: D1Database, entry: AuditEntry, now: number): Promise<void> {
  await drizzle(db)
    .insert(auditLog)
    .values({
      at: now,
      event: entry.event,
      outcome: entry.outcome,
      actorId: entry.actorId ?? null,
      subjectId: entry.subjectId ?? null,
      ip: entry.ip ?? null,
      userAgent: entry.userAgent ?? null,
      requestId: entry.requestId ?? null,
      detail: entry.detail ? JSON.stringify(entry.detail) : null,
    })
    .run();
}
