// Response shapes, as zod/mini schemas turned into JSON Schema by document.ts. Strict objects: a
// field the code adds without documenting it fails the contract tests (test/contract.ts), so the
// document cannot fall behind the code. The shapes mirror the view functions named on each.
import * as z from 'zod/mini';

const unix = z.int().check(z.minimum(0));
const nullableUnix = z.nullable(unix);
const id = z.string();

/** A named component: zod hoists registered schemas into $defs, document.ts into components. */
function named<T extends z.ZodMiniType>(schema: T, name: string, description: string): T {
  z.globalRegistry.add(schema, { id: name, description });
  return schema;
}

/** db/users.ts toPublicUser */
export const User = named(
  z.strictObject({ id, username: z.string(), email: z.nullable(z.string()), email_verified: z.boolean(), roles: z.array(z.string()), created_at: unix }),
  'User',
  'What the API shows of a user: never a hash or a secret. Times are Unix seconds.',
);

/** db/users.ts toAdminUser */
export const AdminUser = named(
  z.strictObject({
    id,
    username: z.string(),
    email: z.nullable(z.string()),
    email_verified: z.boolean(),
    roles: z.array(z.string()),
    created_at: unix,
    disabled: z.boolean(),
    failed_logins: z.int(),
    locked_until: nullableUnix,
    updated_at: unix,
  }),
  'AdminUser',
  'A user with its account state, as administrators see it.',
);

/** routes/auth.ts tokenResponse: RFC 6749 section 5.1 plus the user. */
export const TokenGrant = named(
  z.strictObject({
    access_token: z.string(),
    token_type: z.literal('Bearer'),
    expires_in: z.int(),
    refresh_expires_in: z.int(),
    refresh_token: z.string(),
    user: User,
  }),
  'TokenGrant',
  'Bearer mode: the access token (a JWT) and the rotating refresh token in the body.',
);

export const CookieGrant = named(
  z.strictObject({ token_type: z.literal('Bearer'), expires_in: z.int(), refresh_expires_in: z.int(), user: User }),
  'CookieGrant',
  'Cookie mode: the tokens are only in HttpOnly Set-Cookie headers (__Host-edge_access, __Host-edge_refresh) with the readable __Host-edge_csrf.',
);

export const MfaChallenge = named(
  z.strictObject({
    mfa_required: z.literal(true),
    mfa_token: z.string(),
    methods: z.array(z.enum(['totp', 'recovery_code', 'webauthn'])),
    expires_in: z.int(),
  }),
  'MfaChallenge',
  'The password was right and the account has a second factor: finish with POST /auth/mfa/verify.',
);

/** db/sessions.ts SessionView */
const sessionFields = {
  id,
  created_at: unix,
  last_used_at: unix,
  expires_at: unix,
  user_agent: z.nullable(z.string()),
  ip: z.nullable(z.string()),
};
export const Session = named(z.strictObject({ ...sessionFields, current: z.boolean() }), 'Session', "One of the caller's active sessions.");
export const SessionView = named(z.strictObject(sessionFields), 'SessionView', 'An active session, as administrators see it.');

/** db/api-keys.ts ApiKeyView */
export const ApiKey = named(
  z.strictObject({ id, name: z.string(), prefix: z.string(), roles: z.array(z.string()), created_at: unix, last_used_at: nullableUnix, expires_at: unix }),
  'ApiKey',
  'An API key without its secret (shown once, at creation).',
);

/** db/clients.ts ClientView */
export const Client = named(
  z.strictObject({
    client_id: z.string(),
    name: z.string(),
    roles: z.array(z.string()),
    disabled: z.boolean(),
    secret_rotated: z.boolean(),
    previous_secret_expires_at: nullableUnix,
    locked_until: nullableUnix,
    created_at: unix,
    updated_at: unix,
  }),
  'Client',
  'An OAuth 2 service client (client credentials grant) without its secret.',
);

/** db/audit.ts toAuditView */
export const AuditRecord = named(
  z.strictObject({
    id: z.int(),
    at: unix,
    event: z.string(),
    outcome: z.enum(['success', 'failure']),
    actor_id: z.nullable(z.string()),
    subject_id: z.nullable(z.string()),
    ip: z.nullable(z.string()),
    user_agent: z.nullable(z.string()),
    request_id: z.nullable(z.string()),
    detail: z.nullable(z.record(z.string(), z.unknown())),
  }),
  'AuditRecord',
  'One audit-log row. Never holds a secret.',
);

/** db/signing-keys.ts KeyInfo plus whether it still verifies. */
export const SigningKey = named(
  z.strictObject({
    kid: z.string(),
    alg: z.enum(['ES256', 'HS256']),
    status: z.enum(['next', 'active', 'retired']),
    created_at: unix,
    activated_at: nullableUnix,
    retired_at: nullableUnix,
    retire_after: nullableUnix,
    verifies: z.boolean(),
  }),
  'SigningKey',
  'A key of the signing ring (never its private part).',
);

/** mfa/factors.ts MfaStatus */
export const MfaStatus = named(
  z.strictObject({
    methods: z.array(z.enum(['totp', 'recovery_code', 'webauthn'])),
    totp: z.enum(['disabled', 'pending', 'enabled']),
    recovery_codes_left: z.int(),
    passkeys: z.int(),
  }),
  'MfaStatus',
  'Which second factors an account has.',
);

/** mfa/passkeys.ts PasskeyView */
export const Passkey = named(
  z.strictObject({
    id: z.string(),
    name: z.string(),
    device_type: z.enum(['singleDevice', 'multiDevice']),
    backed_up: z.boolean(),
    created_at: unix,
    last_used_at: nullableUnix,
  }),
  'Passkey',
  'A registered WebAuthn credential (only its public part is stored).',
);

/** WebAuthn options for navigator.credentials.create/get, base64url-encoded (WebAuthn Level 3 JSON). */
export const WebAuthnOptions = named(z.record(z.string(), z.unknown()), 'WebAuthnOptions', 'PublicKeyCredentialCreationOptionsJSON or PublicKeyCredentialRequestOptionsJSON.');

/** An EC P-256 public JWK (RFC 7517/7518). */
export const Jwk = named(
  z.strictObject({
    kty: z.literal('EC'),
    crv: z.literal('P-256'),
    x: z.string(),
    y: z.string(),
    kid: z.string(),
    alg: z.literal('ES256'),
    use: z.literal('sig'),
  }),
  'Jwk',
  'A public verification key.',
);

export const Jwks = named(z.strictObject({ keys: z.array(Jwk) }), 'Jwks', 'RFC 7517 key set: the active, next and still-verifying retired ES256 keys (empty for HS256).');

/** routes/well-known.ts discoveryDocument (RFC 8414). */
export const AuthorizationServerMetadata = named(
  z.strictObject({
    issuer: z.string(),
    jwks_uri: z.string(),
    token_endpoint: z.string(),
    introspection_endpoint: z.string(),
    revocation_endpoint: z.string(),
    response_types_supported: z.array(z.string()),
    grant_types_supported: z.array(z.string()),
    token_endpoint_auth_methods_supported: z.array(z.string()),
    introspection_endpoint_auth_methods_supported: z.array(z.string()),
    revocation_endpoint_auth_methods_supported: z.array(z.string()),
    access_token_signing_alg_values_supported: z.array(z.string()),
    login_endpoint: z.string(),
    refresh_endpoint: z.string(),
    logout_endpoint: z.string(),
    user_registration_endpoint: z.string(),
    me_endpoint: z.string(),
  }),
  'AuthorizationServerMetadata',
  'RFC 8414 authorization-server metadata: only what is true.',
);

/** oauth/token.ts ClientTokenResponse */
export const ClientToken = named(
  z.strictObject({ access_token: z.string(), token_type: z.literal('Bearer'), expires_in: z.int(), scope: z.string() }),
  'ClientToken',
  'RFC 6749 section 5.1 access token response for the client credentials grant.',
);

/** oauth/introspect.ts Introspection (RFC 7662). */
export const Introspection = named(
  z.union([
    z.strictObject({ active: z.literal(false) }),
    z.strictObject({
      active: z.literal(true),
      sub: z.string(),
      username: z.string(),
      scope: z.string(),
      exp: unix,
      subject_type: z.enum(['user', 'api_key', 'client']),
      token_type: z.enum(['Bearer', 'api_key']),
      key_id: z.optional(z.string()),
      iat: z.optional(unix),
      iss: z.optional(z.string()),
      aud: z.optional(z.string()),
      jti: z.optional(z.string()),
      sid: z.optional(z.string()),
      client_id: z.optional(z.string()),
    }),
  ]),
  'Introspection',
  'RFC 7662: active with the token\'s claims, or only {"active": false} for any token that is not valid now.',
);

/** The house error format (src/errors.ts). */
export function errorBody(codes: readonly string[]) {
  return z.strictObject({ error: z.enum(codes as [string, ...string[]]), message: z.string() });
}

/** RFC 6749 section 5.2 error format of the /oauth endpoints. */
export function oauthErrorBody(codes: readonly string[]) {
  return z.strictObject({ error: z.enum(codes as [string, ...string[]]), error_description: z.optional(z.string()) });
}

/** mail/dev-mailbox.ts DevMail */
export const DevMail = named(
  z.strictObject({ id: z.string(), from: z.string(), to: z.string(), subject: z.string(), text: z.string(), html: z.string(), at: z.int() }),
  'DevMail',
  'A mail this development server sent (ENVIRONMENT=development only; it holds live links).',
);
