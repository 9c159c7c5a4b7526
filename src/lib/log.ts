// Structured JSON log lines for operations (Workers Logs with [observability], `wrangler tail`).
// The audit log in D1 is the record; these lines feed dashboards and alerts and join an audit row
// through `requestId`. They carry ids, codes and counts only: never a token, password, hash,
// secret, cookie or username (a username field often holds a mistyped password), and never a
// request body or header. Fields whose names suggest a secret are redacted as a second line of
// defence, so a careless caller leaks a field name, not a value.
import { DrizzleQueryError } from 'drizzle-orm/errors';
import type { AuditEvent } from '../db/audit';

export type LogLevel = 'info' | 'warn' | 'error';
export type LogValue = string | number | boolean | null | undefined;
export type LogFields = Record<string, LogValue>;

/**
 * Auth events logged for operations: every audit event (the D1 audit log is the record), plus
 * `refresh`, which is logged but not audited (one row per refresh would be most of the table).
 */
export type AuthLogEvent = AuditEvent | 'refresh';

const SECRET_NAME = /token|secret|passw|hash|cookie|authorization|credential|username|private|^key$|_key$|key_/i;
export const REDACTED = '[redacted]';
/** Long enough for an error name and message; stacks never go to logs. */
const MAX_STRING = 300;

/** One JSON line: `{...fields,"level","event"}`. console.log/warn/error map to Workers Logs levels. */
export function log(level: LogLevel, event: string, fields: LogFields = {}): void {
  // Built in one pass (this runs once per proxied request: src/gateway/proxy.ts).
  const out: LogFields = {};
  for (const name of Object.keys(fields)) {
    const value = fields[name];
    if (value === undefined) continue;
    if (SECRET_NAME.test(name)) out[name] = REDACTED;
    else out[name] = typeof value === 'string' && value.length > MAX_STRING ? value.slice(0, MAX_STRING) : value;
  }
  out.level = level;
  out.event = event;
  const line = JSON.stringify(out);
  if (level === 'error') console.error(line);
  else if (level === 'warn') console.warn(line);
  else console.log(line);
}

/**
 * An auth event: who (user id, never the username), which session, what happened and why (a
 * reason code). Reuse of a rotated refresh token is a warning: it means a token was stolen or a
 * client is broken.
 */
export function logAuthEvent(
  requestId: string,
  event: AuthLogEvent,
  outcome: 'success' | 'failure',
  fields: { userId?: string | null; sessionId?: string | null; reason?: string; count?: number } = {},
): void {
  const level: LogLevel = event === 'refresh_reuse_detected' ? 'warn' : 'info';
  log(level, `auth.${event}`, {
    requestId,
    outcome,
    userId: fields.userId ?? undefined,
    sessionId: fields.sessionId ?? undefined,
    reason: fields.reason,
    count: fields.count,
  });
}

/**
 * An error as it may be logged: name and message, no stack. drizzle's DrizzleQueryError puts the
 * query's bound parameters into its message (password hashes, refresh-token hashes, key material),
 * so for it only the parameterised SQL text and the database's own error are kept
 * (test/no-secret-logs.test.ts).
 */
export function describeError(err: unknown): string | undefined {
  if (err === undefined) return undefined;
  if (err instanceof DrizzleQueryError) {
    const sql = err.query.replace(/\s+/g, ' ').slice(0, 120);
    return `DrizzleQueryError: ${sql} <- ${describeError(err.cause) ?? 'no cause'}`.slice(0, MAX_STRING);
  }
  if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, MAX_STRING);
  return 'non-error thrown';
}
