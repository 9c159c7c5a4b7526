// /oauth: RFC 6749 client credentials, RFC 7662 introspection, RFC 7009 revocation. Form-encoded
// bodies, RFC 6749 error bodies. The forms are parsed by src/oauth/form.ts (not zod): these
// schemas describe the parameters each handler reads (src/oauth/routes.ts, client-auth.ts).
import * as z from 'zod/mini';
import { ClientToken, Introspection } from '../schemas';
import { op } from '../spec';

const clientCredentials = {
  client_id: z.optional(z.string().check(z.maxLength(4096))),
  client_secret: z.optional(z.string().check(z.maxLength(4096))),
};
const clientAuth = ['clientBasic'] as 'clientBasic'[];
const oauthErrors = ['invalid_request', 'invalid_client'];

export const TokenForm = z.object({
  grant_type: z.literal('client_credentials'),
  scope: z.optional(z.string().check(z.maxLength(4096))),
  ...clientCredentials,
});
export const TokenParamForm = z.object({ token: z.string().check(z.maxLength(4096)), token_type_hint: z.optional(z.string()), ...clientCredentials });

export const oauthOperations = [
  op({
    method: 'post',
    path: '/oauth/token',
    operationId: 'oauthToken',
    tag: 'OAuth 2',
    summary: 'Client credentials grant (RFC 6749 section 4.4)',
    description: 'Client authentication: HTTP Basic (client_secret_basic) or client_id and client_secret in the form (client_secret_post). `scope`: roles, a subset of the client’s.',
    security: clientAuth,
    form: TokenForm,
    responses: { 200: { description: 'An access token (a JWT with `client_id`)', schema: ClientToken } },
    errors: [],
    oauthErrors: [...oauthErrors, 'invalid_scope', 'unsupported_grant_type', 'unauthorized_client', 'invalid_grant'],
  }),
  op({
    method: 'post',
    path: '/oauth/introspect',
    operationId: 'oauthIntrospect',
    tag: 'OAuth 2',
    summary: 'Token introspection (RFC 7662): access tokens, client tokens and API keys',
    security: clientAuth,
    form: TokenParamForm,
    responses: { 200: { description: 'Active with its claims, or {"active": false}', schema: Introspection } },
    errors: [],
    oauthErrors,
  }),
  op({
    method: 'post',
    path: '/oauth/revoke',
    operationId: 'oauthRevoke',
    tag: 'OAuth 2',
    summary: 'Token revocation (RFC 7009): 200 whether or not the token was valid',
    security: clientAuth,
    form: TokenParamForm,
    responses: { 200: { description: 'Revoked, or nothing to revoke' } },
    errors: [],
    oauthErrors,
  }),
];
