// Administration behind /admin: users, their roles and state, their sessions, and the audit log.
// Every change that narrows a user's rights (roles changed, disabled, deleted) ends their sessions
// and puts their access tokens on the revocation list, so it holds within the revocation bound
// even on routes that trust the token's claims. Every change is audited with the admin as actor.
import type { Config, Env } from '../config';
import { listAudit, recordAudit, toAuditView, type AuditEntry } from '../db/audit';
import { listActiveSessions, type SessionView } from '../db/sessions';
import {
  findUserWithoutHash,
  listUsers as listUserRows,
  parseRoles,
  toAdminUser,
  unlockUser as unlockUserRow,
  updateUser as updateUserRow,
  type AdminUser,
  type UserChanges,
} from '../db/users';
import { AppError, insufficientScope } from '../errors';
import { decodeCursor, decodeIntCursor, encodeCursor } from '../lib/cursor';
import type { RequestMeta } from '../lib/request-meta';
import { keysWithOwner } from '../db/api-keys';
import { syncApiKeys } from '../tokens/api-keys';
import { deleteUserEndingSessions, endUserSessions } from '../tokens/refresh';

/** The built-in role that the admin API requires. */
export const ADMIN_ROLE = 'admin';

export interface AdminDeps {
  env: Env;
  config: Config;
  meta: RequestMeta;
  now: number;
  /** The administrator making the request. */
  actorId: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

const USER_CURSOR = 'u1';
const AUDIT_CURSOR = 'a1';

function audit(d: AdminDeps, subjectId: string, entry: Omit<AuditEntry, 'actorId' | 'subjectId' | 'ip' | 'userAgent' | 'requestId'>): Promise<void> {
  return recordAudit(
    d.env.DB,
    { actorId: d.actorId, subjectId, ip: d.meta.ip, userAgent: d.meta.userAgent, requestId: d.meta.requestId, ...entry },
    d.now,
  );
}

function noSuchUser(): AppError {
  return new AppError('not_found', 'No such user.');
}

export async function listUsers(
  d: AdminDeps,
  query: { limit: number; cursor?: string | undefined; prefix?: string | undefined },
): Promise<Page<AdminUser>> {
  const after = query.cursor !== undefined ? decodeCursor(USER_CURSOR, query.cursor) : undefined;
  // One extra row tells whether another page exists, so the last page has no cursor.
  const rows = await listUserRows(d.env.DB, { after, prefix: query.prefix, limit: query.limit + 1 });
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    items: page.map(toAdminUser),
    nextCursor: rows.length > query.limit && last ? encodeCursor(USER_CURSOR, last.usernameKey) : null,
  };
}

export async function getUser(d: AdminDeps, id: string): Promise<AdminUser> {
  const row = await findUserWithoutHash(d.env.DB, id);
  if (!row) throw noSuchUser();
  return toAdminUser(row);
}

export async function userSessions(d: AdminDeps, id: string): Promise<SessionView[]> {
  await getUser(d, id);
  return listActiveSessions(d.env.DB, id, d.now);
}

function sameRoles(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');
}

/**
 * Applies a PATCH. An administrator may not disable or demote themselves: with that rule the API
 * can never remove the last administrator (the caller always remains one). `npm run user:create`
 * is the way back in if every administrator is lost anyway.
 */
export async function updateUser(d: AdminDeps, id: string, changes: UserChanges): Promise<AdminUser> {
  const roles = changes.roles !== undefined ? [...new Set(changes.roles)] : undefined;
  if (id === d.actorId && (changes.disabled === true || (roles !== undefined && !roles.includes(ADMIN_ROLE)))) {
    throw new AppError('conflict', 'Administrators cannot disable or demote themselves.');
  }
  // What changed is decided from the row as the update found it (same transaction), so two
  // concurrent PATCHes each see their true predecessor and a narrowing is never missed.
  const { before, after } = await updateUserRow(d.env.DB, id, { ...changes, roles }, d.now, d.actorId);
  if (!before) throw noSuchUser();
  if (!after) throw await lostRace(d, id);

  const oldRoles = parseRoles(before.roles);
  const rolesChanged = !sameRoles(oldRoles, parseRoles(after.roles));
  const disabled = after.disabled && !before.disabled;
  const enabled = !after.disabled && before.disabled;
  const emailChanged = after.email !== before.email;

  // After the update, so a refresh racing with this request either sees the new state or has its
  // session revoked here. One revocation covers both a role change and a disable in one PATCH.
  let ended = 0;
  if (rolesChanged || disabled) {
    ended = await endUserSessions(d.env, d.config, id, disabled ? 'user_disabled' : 'roles_changed', d.now);
  }
  // API keys carry at most their owner's current roles, and none while the owner is disabled.
  if (rolesChanged || disabled || enabled) await syncApiKeys(d.env, id, d.now);
  if (rolesChanged) await audit(d, id, { event: 'role_change', outcome: 'success', detail: { from: oldRoles, to: parseRoles(after.roles), sessions_ended: ended } });
  if (disabled) await audit(d, id, { event: 'user_disable', outcome: 'success', detail: { sessions_ended: ended } });
  if (enabled) await audit(d, id, { event: 'user_enable', outcome: 'success' });
  // The address itself is personal data, not needed to tell what happened: only the field name.
  if (emailChanged) await audit(d, id, { event: 'user_update', outcome: 'success', detail: { fields: ['email'] } });
  return toAdminUser(after);
}

/** Why a guarded admin write changed nothing: the user is gone, or the actor is no longer an admin. */
async function lostRace(d: AdminDeps, id: string): Promise<AppError> {
  return (await findUserWithoutHash(d.env.DB, id)) ? insufficientScope([ADMIN_ROLE]) : noSuchUser();
}

export async function deleteUser(d: AdminDeps, id: string): Promise<void> {
  if (id === d.actorId) throw new AppError('conflict', 'Administrators cannot delete themselves.');
  // The keys go with the user (ON DELETE CASCADE): their KV copies are found by hash first.
  const { keys } = await keysWithOwner(d.env.DB, id, d.now);
  const { deleted, ended } = await deleteUserEndingSessions(d.env, d.config, id, d.now, d.actorId);
  if (!deleted) throw await lostRace(d, id);
  await syncApiKeys(d.env, id, d.now, keys.map((k) => k.keyHash));
  await audit(d, id, { event: 'user_delete', outcome: 'success', detail: { sessions_ended: ended } });
}

export async function endSessionsOf(d: AdminDeps, id: string): Promise<number> {
  await getUser(d, id);
  const ended = await endUserSessions(d.env, d.config, id, 'admin', d.now);
  await audit(d, id, { event: 'admin_sessions_end', outcome: 'success', detail: { sessions_ended: ended } });
  return ended;
}

export async function unlockUser(d: AdminDeps, id: string): Promise<AdminUser> {
  const row = await unlockUserRow(d.env.DB, id, d.now);
  if (!row) throw noSuchUser();
  await audit(d, id, { event: 'user_unlock', outcome: 'success' });
  return toAdminUser(row);
}

export interface AuditQuery {
  limit: number;
  cursor?: string | undefined;
  user?: string | undefined;
  actor?: string | undefined;
  event?: string | undefined;
  outcome?: 'success' | 'failure' | undefined;
  since?: number | undefined;
  until?: number | undefined;
}

export async function readAudit(d: AdminDeps, q: AuditQuery): Promise<Page<ReturnType<typeof toAuditView>>> {
  const beforeId = q.cursor !== undefined ? decodeIntCursor(AUDIT_CURSOR, q.cursor) : undefined;
  const rows = await listAudit(d.env.DB, {
    subjectId: q.user,
    actorId: q.actor,
    event: q.event,
    outcome: q.outcome,
    since: q.since,
    until: q.until,
    beforeId,
    limit: q.limit + 1,
  });
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return {
    items: page.map(toAuditView),
    nextCursor: rows.length > q.limit && last ? encodeCursor(AUDIT_CURSOR, last.id) : null,
  };
}
