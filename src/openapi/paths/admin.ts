// /admin: users, their sessions, keys and factors, the audit log, service clients, signing keys.
import * as z from 'zod/mini';
import * as admin from '../../routes/admin';
import * as clients from '../../routes/admin-clients';
import { KeyId } from '../../routes/api-keys';
import { AdminUser, ApiKey, AuditRecord, Client, MfaStatus, SessionView, SigningKey } from '../schemas';
import { ERRORS, errors, op } from '../spec';

const adminOnly = { security: ['bearer', 'cookie'] as ('bearer' | 'cookie')[], roles: ['admin'] };
const cursor = z.nullable(z.string());
const userParam = { id: admin.UserId };
const clientParam = { id: clients.ClientId };
const withSecret = z.strictObject({ client: Client, client_secret: z.string() });
const userBody = z.strictObject({ user: AdminUser });

export const adminOperations = [
  op({ method: 'get', path: '/admin/users', operationId: 'adminListUsers', tag: 'Administration', summary: 'List users (cursor-paginated, by username prefix)', ...adminOnly, query: admin.UserListQuery, responses: { 200: { description: 'A page of users', schema: z.strictObject({ users: z.array(AdminUser), next_cursor: cursor }) } }, errors: errors(ERRORS.admin, ERRORS.query) }),
  op({ method: 'get', path: '/admin/users/{id}', operationId: 'adminGetUser', tag: 'Administration', summary: 'One user', ...adminOnly, params: userParam, responses: { 200: { description: 'The user', schema: userBody } }, errors: errors(ERRORS.admin, ERRORS.notFound) }),
  op({ method: 'patch', path: '/admin/users/{id}', operationId: 'adminUpdateUser', tag: 'Administration', summary: 'Change roles, email or disable/enable', description: 'Role changes and disabling take effect on the user’s next request (their tokens are revoked).', ...adminOnly, params: userParam, body: admin.UserPatch, responses: { 200: { description: 'The user after the change', schema: userBody } }, errors: errors(ERRORS.admin, ERRORS.json, ERRORS.notFound, 'conflict') }),
  op({ method: 'delete', path: '/admin/users/{id}', operationId: 'adminDeleteUser', tag: 'Administration', summary: 'Delete a user and end their sessions', ...adminOnly, params: userParam, responses: { 204: { description: 'Deleted' } }, errors: errors(ERRORS.admin, ERRORS.notFound, 'conflict') }),
  op({ method: 'get', path: '/admin/users/{id}/sessions', operationId: 'adminUserSessions', tag: 'Administration', summary: 'A user’s active sessions', ...adminOnly, params: userParam, responses: { 200: { description: 'Sessions', schema: z.strictObject({ sessions: z.array(SessionView) }) } }, errors: errors(ERRORS.admin, ERRORS.notFound) }),
  op({ method: 'delete', path: '/admin/users/{id}/sessions', operationId: 'adminEndUserSessions', tag: 'Administration', summary: 'End every session of a user', ...adminOnly, params: userParam, responses: { 200: { description: 'How many sessions ended', schema: z.strictObject({ sessions_ended: z.int() }) } }, errors: errors(ERRORS.admin, ERRORS.notFound) }),
  op({ method: 'post', path: '/admin/users/{id}/unlock', operationId: 'adminUnlockUser', tag: 'Administration', summary: 'Clear a lockout after failed logins', ...adminOnly, params: userParam, responses: { 200: { description: 'The user', schema: userBody } }, errors: errors(ERRORS.admin, ERRORS.notFound) }),
  op({ method: 'get', path: '/admin/users/{id}/api-keys', operationId: 'adminUserApiKeys', tag: 'Administration', summary: 'A user’s API keys', ...adminOnly, params: userParam, responses: { 200: { description: 'Keys, without secrets', schema: z.strictObject({ api_keys: z.array(ApiKey) }) } }, errors: errors(ERRORS.admin, ERRORS.notFound) }),
  op({ method: 'delete', path: '/admin/api-keys/{id}', operationId: 'adminRevokeApiKey', tag: 'Administration', summary: 'Revoke any API key', ...adminOnly, params: { id: KeyId }, responses: { 204: { description: 'Revoked' } }, errors: errors(ERRORS.admin, ERRORS.notFound) }),
  op({ method: 'get', path: '/admin/users/{id}/mfa', operationId: 'adminUserMfa', tag: 'Administration', summary: 'A user’s second factors', ...adminOnly, params: userParam, responses: { 200: { description: 'Factors', schema: MfaStatus } }, errors: errors(ERRORS.admin, ERRORS.notFound) }),
  op({ method: 'post', path: '/admin/users/{id}/mfa/reset', operationId: 'adminResetMfa', tag: 'Administration', summary: 'Remove a user’s second factors (lost device)', ...adminOnly, params: userParam, responses: { 200: { description: 'What was removed', schema: z.strictObject({ totp_removed: z.boolean(), passkeys_removed: z.int() }) } }, errors: errors(ERRORS.admin, ERRORS.notFound) }),
  op({ method: 'get', path: '/admin/audit', operationId: 'adminAudit', tag: 'Administration', summary: 'The audit log, newest first, with filters', ...adminOnly, query: admin.AuditQuery, responses: { 200: { description: 'A page of events', schema: z.strictObject({ events: z.array(AuditRecord), next_cursor: cursor }) } }, errors: errors(ERRORS.admin, ERRORS.query) }),
  op({ method: 'post', path: '/admin/clients', operationId: 'adminCreateClient', tag: 'Service clients', summary: 'Create an OAuth client (its secret is shown once)', ...adminOnly, body: clients.NewClient, responses: { 201: { description: 'The client and its secret', schema: withSecret } }, errors: errors(ERRORS.admin, ERRORS.json) }),
  op({ method: 'get', path: '/admin/clients', operationId: 'adminListClients', tag: 'Service clients', summary: 'List clients', ...adminOnly, query: clients.ListQuery, responses: { 200: { description: 'A page of clients', schema: z.strictObject({ clients: z.array(Client), next_cursor: cursor }) } }, errors: errors(ERRORS.admin, ERRORS.query) }),
  op({ method: 'get', path: '/admin/clients/{id}', operationId: 'adminGetClient', tag: 'Service clients', summary: 'One client', ...adminOnly, params: clientParam, responses: { 200: { description: 'The client', schema: z.strictObject({ client: Client }) } }, errors: errors(ERRORS.admin, ERRORS.notFound) }),
  op({ method: 'patch', path: '/admin/clients/{id}', operationId: 'adminUpdateClient', tag: 'Service clients', summary: 'Rename, change roles, disable/enable', ...adminOnly, params: clientParam, body: clients.ClientPatch, responses: { 200: { description: 'The client after the change', schema: z.strictObject({ client: Client }) } }, errors: errors(ERRORS.admin, ERRORS.json, ERRORS.notFound) }),
  op({ method: 'post', path: '/admin/clients/{id}/rotate-secret', operationId: 'adminRotateClientSecret', tag: 'Service clients', summary: 'A new secret; the previous one keeps working for a grace period', ...adminOnly, params: clientParam, responses: { 200: { description: 'The client and its new secret', schema: withSecret } }, errors: errors(ERRORS.admin, ERRORS.notFound, 'conflict') }),
  op({ method: 'delete', path: '/admin/clients/{id}', operationId: 'adminDeleteClient', tag: 'Service clients', summary: 'Delete a client and revoke its tokens', ...adminOnly, params: clientParam, responses: { 204: { description: 'Deleted' } }, errors: errors(ERRORS.admin, ERRORS.notFound) }),
  op({
    method: 'get',
    path: '/admin/keys',
    operationId: 'adminListKeys',
    tag: 'Signing keys',
    summary: 'The signing key ring',
    ...adminOnly,
    responses: {
      200: {
        description: 'Which key signs, the overlap of a retired key, and every key',
        schema: z.strictObject({
          signing: z.strictObject({ alg: z.enum(['ES256', 'HS256']), kid: z.nullable(z.string()), source: z.enum(['d1', 'JWT_SECRET']) }),
          rotation_overlap: z.int(),
          keys: z.array(SigningKey),
        }),
      },
    },
    errors: errors(ERRORS.admin),
  }),
  op({
    method: 'post',
    path: '/admin/keys/rotate',
    operationId: 'adminRotateKeys',
    tag: 'Signing keys',
    summary: 'Rotate: next becomes active, active is retired after the overlap, a new next is published',
    ...adminOnly,
    responses: {
      200: {
        description: 'The ring after the rotation',
        schema: z.strictObject({ alg: z.enum(['ES256', 'HS256']), active: z.string(), next: z.string(), retired: z.nullable(z.string()), retire_after: z.nullable(z.int()) }),
      },
    },
    errors: errors(ERRORS.admin, 'conflict'),
  }),
];
