// /auth/api-keys: a user's own API keys.
import * as z from 'zod/mini';
import * as routes from '../../routes/api-keys';
import { ApiKey } from '../schemas';
import { ERRORS, errors, op } from '../spec';

const session = ['bearer', 'cookie'] as const;

export const apiKeyOperations = [
  op({
    method: 'post',
    path: '/auth/api-keys',
    operationId: 'createApiKey',
    tag: 'API keys',
    summary: 'Create an API key (shown once)',
    description:
      'Roles must be a subset of the user’s. Needs a sign-in within the last 5 minutes or the current password in `password` (RFC 9470 step-up otherwise).',
    security: [...session],
    body: routes.NewKeyBody,
    responses: { 201: { description: 'The key: `api_key` is the secret, never shown again', schema: z.strictObject({ api_key: z.string(), key: ApiKey }) } },
    errors: errors(ERRORS.json, ERRORS.auth, ERRORS.subject, ERRORS.throttled, 'insufficient_user_authentication', 'invalid_credentials', 'insufficient_scope', 'conflict'),
  }),
  op({
    method: 'get',
    path: '/auth/api-keys',
    operationId: 'listApiKeys',
    tag: 'API keys',
    summary: 'The user’s API keys',
    security: [...session],
    responses: { 200: { description: 'Keys, without secrets', schema: z.strictObject({ api_keys: z.array(ApiKey) }) } },
    errors: errors(ERRORS.auth, ERRORS.subject),
  }),
  op({
    method: 'delete',
    path: '/auth/api-keys/{id}',
    operationId: 'revokeApiKey',
    tag: 'API keys',
    summary: 'Revoke one of the user’s API keys',
    security: [...session],
    params: { id: routes.KeyId },
    responses: { 204: { description: 'Revoked' } },
    errors: errors(ERRORS.auth, ERRORS.subject, ERRORS.notFound),
  }),
];
