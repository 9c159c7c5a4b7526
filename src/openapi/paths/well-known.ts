// /.well-known: keys and metadata for verifiers and OAuth clients.
import { AuthorizationServerMetadata, Jwks } from '../schemas';
import { op } from '../spec';

export const wellKnownOperations = [
  op({
    method: 'get',
    path: '/.well-known/jwks.json',
    operationId: 'jwks',
    tag: 'Keys and metadata',
    summary: 'Public keys to verify access tokens (ES256)',
    description: 'Cacheable for at most the rotation overlap (Cache-Control max-age). CORS: any origin.',
    security: [],
    responses: { 200: { description: 'The key set', schema: Jwks, headers: { 'Cache-Control': 'public, max-age=<seconds>' } } },
    errors: [],
  }),
  op({
    method: 'get',
    path: '/.well-known/oauth-authorization-server',
    operationId: 'authorizationServerMetadata',
    tag: 'Keys and metadata',
    summary: 'RFC 8414 metadata',
    security: [],
    responses: { 200: { description: 'The metadata', schema: AuthorizationServerMetadata, headers: { 'Cache-Control': 'public, max-age=3600' } } },
    errors: [],
  }),
  op({
    method: 'get',
    path: '/.well-known/openid-configuration',
    operationId: 'openidConfiguration',
    tag: 'Keys and metadata',
    summary: 'Not published: edge-auth is not an OpenID Provider (always 404, pointing to the RFC 8414 document)',
    security: [],
    responses: {},
    errors: ['not_found'],
  }),
];
