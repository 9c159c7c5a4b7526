// OAuth 2 service clients, administered under /admin/clients: created with a secret shown once,
// rotated with an overlap, disabled and deleted. Whatever narrows a client (disable, delete, fewer
// roles) also puts a cutoff on its outstanding access tokens (one KV write, tokens/revocation.ts).
import { sha256 } from '../crypto/digest';
import { randomToken } from '../crypto/random';
import { deleteClient, findClient, insertClient, listClients, rotateClientSecret, toClientView, updateClient, type ClientView } from '../db/clients';
import { parseRoles } from '../db/users';
import { AppError } from '../errors';
import { decodeCursor, encodeCursor } from '../lib/cursor';
import { revokeSubjectTokens } from '../tokens/revocation';
import type { AdminDeps, Page } from './admin';
import { recordAudit, type AuditEntry, type AuditEvent } from '../db/audit';

/** How long a rotated-out secret keeps working, so a fleet can roll the new one out. */
export const SECRET_ROTATION_OVERLAP = 86_400;
const CLIENT_CURSOR = 'c1';

function newSecret(): string {
  return `ecs_${randomToken(32)}`;
}

function noSuchClient(): AppError {
  return new AppError('not_found', 'No such client.');
}

function audit(d: AdminDeps, clientId: string, event: AuditEvent, detail?: AuditEntry['detail']) {
  return recordAudit(d.env.DB, { event, outcome: 'success', actorId: d.actorId, subjectId: clientId, ip: d.meta.ip, userAgent: d.meta.userAgent, requestId: d.meta.requestId, detail }, d.now);
}

export async function createClient(d: AdminDeps, input: { name: string; roles: string[] }): Promise<{ client: ClientView; secret: string }> {
  const secret = newSecret();
  const roles = [...new Set(input.roles)];
  const row = await insertClient(d.env.DB, { id: `cl_${randomToken(16)}`, name: input.name, roles, secretHash: await sha256(secret) }, d.now);
  await audit(d, row.id, 'client_create', { roles });
  return { client: toClientView(row, parseRoles), secret };
}

export async function listAllClients(d: AdminDeps, q: { limit: number; cursor?: string | undefined }): Promise<Page<ClientView>> {
  const after = q.cursor !== undefined ? decodeCursor(CLIENT_CURSOR, q.cursor) : undefined;
  const rows = await listClients(d.env.DB, { after, limit: q.limit + 1 });
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return { items: page.map((r) => toClientView(r, parseRoles)), nextCursor: rows.length > q.limit && last ? encodeCursor(CLIENT_CURSOR, last.id) : null };
}

export async function getClient(d: AdminDeps, id: string): Promise<ClientView> {
  const row = await findClient(d.env.DB, id);
  if (!row) throw noSuchClient();
  return toClientView(row, parseRoles);
}

export async function changeClient(d: AdminDeps, id: string, changes: { name?: string | undefined; roles?: string[] | undefined; disabled?: boolean | undefined }): Promise<ClientView> {
  const roles = changes.roles !== undefined ? [...new Set(changes.roles)] : undefined;
  const { before, after } = await updateClient(d.env.DB, id, { ...changes, roles }, d.now);
  if (!before || !after) throw noSuchClient();
  const oldRoles = parseRoles(before.roles);
  const newRoles = parseRoles(after.roles);
  const narrowed = oldRoles.some((r) => !newRoles.includes(r));
  const disabled = after.disabled && !before.disabled;
  // Decided from the update's own before/after: outstanding tokens lose what the client lost.
  if (narrowed || disabled) await revokeSubjectTokens(d.env.KV, id, { accessTtl: d.config.accessTtl, leeway: d.config.leeway }, disabled ? 'client_disabled' : 'client_roles_changed', d.now);
  if (disabled) await audit(d, id, 'client_disable');
  if (!after.disabled && before.disabled) await audit(d, id, 'client_enable');
  if (newRoles.join('\n') !== oldRoles.join('\n') || after.name !== before.name) await audit(d, id, 'client_update', { from: oldRoles, to: newRoles });
  return toClientView(after, parseRoles);
}

export async function rotateSecret(d: AdminDeps, id: string): Promise<{ client: ClientView; secret: string }> {
  const secret = newSecret();
  const row = await rotateClientSecret(d.env.DB, id, await sha256(secret), d.now + SECRET_ROTATION_OVERLAP, d.now);
  if (!row) throw noSuchClient();
  await audit(d, id, 'client_secret_rotate', { previous_valid_until: d.now + SECRET_ROTATION_OVERLAP });
  return { client: toClientView(row, parseRoles), secret };
}

export async function removeClient(d: AdminDeps, id: string): Promise<void> {
  if (!(await deleteClient(d.env.DB, id))) throw noSuchClient();
  await revokeSubjectTokens(d.env.KV, id, { accessTtl: d.config.accessTtl, leeway: d.config.leeway }, 'client_deleted', d.now);
  await audit(d, id, 'client_delete');
}
