// The OpenAPI 3.1 document, built from the operation table (paths/*.ts): request schemas are the
// ones the routes validate with, error responses are grouped by status from src/errors.ts, and the
// headers every answer carries are declared so the contract tests (test/contract.ts) can hold the
// code to them. Run at build time by scripts/openapi.mjs; never part of the Worker bundle.
import * as z from 'zod/mini';
import { ERROR_STATUS, type ErrorCode } from '../errors';
import { adminOperations } from './paths/admin';
import { apiKeyOperations } from './paths/api-keys';
import { apiOperations } from './paths/api';
import { authOperations } from './paths/auth';
import { emailOperations } from './paths/email';
import { mfaOperations } from './paths/mfa';
import { oauthOperations } from './paths/oauth';
import { usageOperations } from './paths/usage';
import { wellKnownOperations } from './paths/well-known';
import { errorBody, oauthErrorBody } from './schemas';
import { ALWAYS, ERROR_HEADERS, type Credential, type Operation } from './spec';

export const OPERATIONS: Operation[] = [
  ...apiOperations,
  ...authOperations,
  ...emailOperations,
  ...apiKeyOperations,
  ...mfaOperations,
  ...adminOperations,
  ...usageOperations,
  ...wellKnownOperations,
  ...oauthOperations,
];

type Json = Record<string, unknown>;

const TAGS: Record<string, string> = {
  Service: 'Liveness.',
  Demo: 'Two protected routes that show what a token carries (README "Protecting routes").',
  'Sign-in': 'Register, sign in, refresh with rotation, sign out. Bearer mode returns tokens; cookie mode sets HttpOnly cookies.',
  Account: "The signed-in user's own account and sessions.",
  'Account mail': 'Email verification, password reset and email change by single-use links (docs/email.md).',
  'API keys': 'Long-lived keys for scripts and services, acting as their user with a subset of its roles.',
  'Second factors': 'TOTP, recovery codes and the second step of a login (docs/mfa.md).',
  Passkeys: 'WebAuthn credentials: as a second factor or to sign in alone.',
  Administration: 'Users, sessions, API keys, second factors and the audit log (admin role, read fresh).',
  'Service clients': 'OAuth 2 clients for the client credentials grant (docs/machine-clients.md).',
  'Signing keys': 'The key ring that signs access tokens (docs/keys.md).',
  Usage: 'Requests counted per subject, route pattern, status class and hour; quotas answer 429 quota_exceeded (docs/usage.md).',
  'Keys and metadata': 'What verifiers and OAuth clients discover: the JWKS and RFC 8414 metadata.',
  'OAuth 2': 'RFC 6749 client credentials, RFC 7662 introspection and RFC 7009 revocation, form-encoded, RFC 6749 errors.',
};
const SCHEMA_REF = '#/components/schemas/';

/** JSON Schema (2020-12, as OpenAPI 3.1 uses it) of a zod schema; registered sub-schemas become $refs. */
function jsonSchema(schema: z.ZodMiniType, io: 'input' | 'output', defs: Json): Json {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12', reused: 'inline' }) as Json;
  delete out.$schema;
  const hoisted = out.$defs as Json | undefined;
  if (hoisted) {
    for (const [name, def] of Object.entries(hoisted)) defs[name] = tidy(stripIds(def as Json));
    delete out.$defs;
  }
  return tidy(stripIds(out));
}

/** `id` is zod's registry key; OpenAPI names the schema by its components key instead. */
function stripIds(schema: Json): Json {
  const { id: _id, ...rest } = schema;
  return rest;
}

/** References to hoisted definitions point into components; z.int()'s safe-integer bounds are implied. */
function tidy<T>(value: T): T {
  if (Array.isArray(value)) return value.map(tidy) as T;
  if (value && typeof value === 'object') {
    const out: Json = {};
    for (const [k, v] of Object.entries(value)) {
      if ((k === 'minimum' || k === 'maximum') && Math.abs(v as number) === Number.MAX_SAFE_INTEGER) continue;
      out[k] = k === '$ref' && typeof v === 'string' ? v.replace('#/$defs/', SCHEMA_REF) : tidy(v);
    }
    return out as T;
  }
  return value;
}

/** Paths whose unsafe methods pass the CSRF check and whose bodies the size limit guards (src/middleware/api-headers.ts). */
const API_PATH = /^\/(auth|api|admin)(\/|$)/;
const UNSAFE = new Set(['post', 'put', 'patch', 'delete']);

const SECURITY: Record<Credential, (unsafe: boolean) => Json> = {
  bearer: () => ({ bearerAuth: [] }),
  cookie: (unsafe) => (unsafe ? { cookieAuth: [], csrfToken: [] } : { cookieAuth: [] }),
  apiKey: () => ({ apiKeyAuth: [] }),
  clientToken: () => ({ clientCredentials: [] }),
  clientBasic: () => ({ clientSecretBasic: [] }),
};

const HEADER_TEXT: Record<string, string> = {
  'Retry-After': 'Seconds to wait before retrying.',
  'WWW-Authenticate': 'The RFC 6750 / RFC 9470 challenge.',
  'RateLimit-Policy': 'The quota tier\'s policies (draft-ietf-httpapi-ratelimit-headers).',
  RateLimit: 'What is left of the quota (draft-ietf-httpapi-ratelimit-headers).',
};

const header = (description: string, required = true) => ({ description, required, schema: { type: 'string' } });
const REQUEST_ID = { $ref: '#/components/headers/X-Request-Id' };

function errorResponses(o: Operation, defs: Json, shared: Json): Json {
  const codes = new Set<ErrorCode>([...o.errors, ...ALWAYS]);
  if (UNSAFE.has(o.method) && API_PATH.test(o.path)) {
    codes.add('csrf_failed');
    codes.add('payload_too_large');
  }
  if (o.form) codes.add('payload_too_large');
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(ERROR_STATUS[code], [...(byStatus.get(ERROR_STATUS[code]) ?? []), code]);
  // RFC 6749 errors of the /oauth endpoints, by their statuses (src/oauth/errors.ts); a throttled
  // client gets 429 with an RFC 6749 body too.
  const oauthByStatus = new Map<number, string[]>();
  for (const code of o.oauthErrors ?? []) {
    const status = code === 'invalid_client' ? 401 : 400;
    oauthByStatus.set(status, [...(oauthByStatus.get(status) ?? []), code]);
  }
  if (o.oauthErrors) oauthByStatus.set(429, ['invalid_request']);
  const out: Json = {};
  for (const status of [...new Set([...byStatus.keys(), ...oauthByStatus.keys()])].sort()) {
    const house = byStatus.get(status) ?? [];
    const oauth = oauthByStatus.get(status) ?? [];
    const headers: Json = { 'X-Request-Id': REQUEST_ID };
    // A header is promised when every code this status may carry sends it.
    const all = [...house, ...oauth.map(() => undefined)];
    for (const name of new Set(house.flatMap((c) => ERROR_HEADERS[c] ?? []))) {
      headers[name] = header(HEADER_TEXT[name] ?? name, all.every((c) => c !== undefined && (ERROR_HEADERS[c] ?? []).includes(name)));
    }
    if (status === 401 && oauth.includes('invalid_client')) headers['WWW-Authenticate'] ??= header('The Basic challenge of an invalid client.', false);
    if (status === 429 && oauth.length) headers['Retry-After'] = header('Seconds to wait before retrying.');
    // The house format is the shared Error schema narrowed to this status's codes.
    const houseSchema = { allOf: [{ $ref: `${SCHEMA_REF}Error` }, { properties: { error: { enum: house } } }] };
    const variants = [...(house.length ? [houseSchema] : []), ...(oauth.length ? [jsonSchema(oauthErrorBody(oauth), 'output', defs)] : [])];
    const description = [house.length ? house.map((c) => `\`${c}\``).join(', ') : '', oauth.length ? `RFC 6749: ${oauth.map((c) => `\`${c}\``).join(', ')}` : ''].filter(Boolean).join('; ');
    // One shared response per (status, codes): operations refer to it, the document stays small.
    const name = `${status}-${[...house, ...oauth.map((c) => `oauth.${c}`)].sort().join('.')}`;
    shared[name] ??= { description, headers, content: { 'application/json': { schema: variants.length === 1 ? variants[0] : { oneOf: variants } } } };
    out[String(status)] = { $ref: `#/components/responses/${name}` };
  }
  return out;
}

function operationObject(o: Operation, defs: Json, shared: Json): Json {
  const unsafe = UNSAFE.has(o.method);
  const parameters: Json[] = [];
  for (const [name, schema] of Object.entries(o.params ?? {})) {
    parameters.push({ name, in: 'path', required: true, schema: jsonSchema(schema, 'input', defs) });
  }
  if (o.query) {
    const q = jsonSchema(o.query, 'input', defs);
    const required = new Set((q.required as string[] | undefined) ?? []);
    for (const [name, schema] of Object.entries((q.properties as Json | undefined) ?? {})) {
      parameters.push({ name, in: 'query', required: required.has(name), schema });
    }
  }
  const responses: Json = {};
  for (const [status, r] of Object.entries(o.responses)) {
    const headers: Json = { 'X-Request-Id': REQUEST_ID };
    for (const [name, description] of Object.entries(r!.headers ?? {})) headers[name] = header(description);
    if (r!.setsCookies) headers['Set-Cookie'] = header('Cookie mode: __Host-edge_access and __Host-edge_refresh (HttpOnly, Secure, SameSite=Strict) and the readable __Host-edge_csrf.', false);
    responses[status] = {
      description: r!.description,
      headers,
      ...(r!.schema
        ? {
            content: {
              [r!.contentType ?? 'application/json']: { schema: jsonSchema(r!.schema, 'output', defs) },
              ...Object.fromEntries(Object.entries(r!.alternatives ?? {}).map(([type, description]) => [type, { schema: { type: 'string', description } }])),
            },
          }
        : {}),
    };
  }
  Object.assign(responses, errorResponses(o, defs, shared));
  const roles = o.roles?.length ? `\n\nRequires the role${o.roles.length > 1 ? 's (any of)' : ''}: ${o.roles.map((r) => `\`${r}\``).join(', ')}.` : '';
  return {
    operationId: o.operationId,
    tags: [o.tag],
    summary: o.summary,
    ...(o.description || roles ? { description: (o.description ?? '') + roles } : {}),
    security: o.security.length ? o.security.map((s) => SECURITY[s](unsafe)) : [],
    ...(parameters.length ? { parameters } : {}),
    ...(o.body
      ? { requestBody: { required: !o.bodyOptional, content: { 'application/json': { schema: jsonSchema(o.body, 'input', defs) } } } }
      : o.form
        ? { requestBody: { required: true, content: { 'application/x-www-form-urlencoded': { schema: jsonSchema(o.form, 'input', defs) } } } }
        : {}),
    responses,
  };
}

function sorted(o: Json): Json {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

export interface DocumentOptions {
  version: string;
}

export function buildDocument({ version }: DocumentOptions): Json {
  const defs: Json = {};
  const shared: Json = {};
  const paths: Record<string, Json> = {};
  for (const o of OPERATIONS) {
    paths[o.path] ??= {};
    if (paths[o.path]![o.method]) throw new Error(`duplicate operation ${o.method.toUpperCase()} ${o.path}`);
    paths[o.path]![o.method] = operationObject(o, defs, shared);
  }
  const codes = Object.keys(ERROR_STATUS) as ErrorCode[];
  defs.Error = jsonSchema(errorBody(codes), 'output', defs);
  return {
    openapi: '3.1.0',
    info: {
      title: 'edge-auth',
      version,
      summary: 'Authentication on Cloudflare Workers: users, sessions, JWT access tokens, API keys, OAuth 2 clients.',
      description: `Every error is JSON \`{"error": <code>, "message": <text>}\` (the /oauth endpoints: RFC 6749 \`{"error", "error_description"}\`); each operation lists the codes it may answer, grouped by status. Codes and statuses: ${codes.map((c) => `\`${c}\` ${ERROR_STATUS[c]}`).join(', ')}.`,
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/', description: 'This deployment' }],
    tags: [...new Set(OPERATIONS.map((o) => o.tag))].map((name) => {
      if (!TAGS[name]) throw new Error(`tag "${name}" has no description in TAGS (src/openapi/document.ts)`);
      return { name, description: TAGS[name] };
    }),
    paths,
    components: {
      schemas: sorted(defs),
      responses: sorted(shared),
      headers: { 'X-Request-Id': header('A unique id of this request, also in the logs and the audit record.') },
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'An access token (ES256 or HS256 JWT) from /auth/login, /auth/refresh or /oauth/token; an API key (`eak_…`) is accepted here too.' },
        cookieAuth: { type: 'apiKey', in: 'cookie', name: '__Host-edge_access', description: 'Cookie mode: the HttpOnly access cookie set by a login with `mode: "cookie"`. Unsafe methods also need csrfToken.' },
        csrfToken: { type: 'apiKey', in: 'header', name: 'X-CSRF-Token', description: 'The value of the readable `__Host-edge_csrf` cookie (double submit), with an allowed Origin.' },
        apiKeyAuth: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'An API key (`eak_…`) created with POST /auth/api-keys.' },
        clientCredentials: { type: 'oauth2', description: 'An access token of an OAuth 2 service client.', flows: { clientCredentials: { tokenUrl: '/oauth/token', scopes: {} } } },
        clientSecretBasic: { type: 'http', scheme: 'basic', description: 'client_secret_basic: the client id and secret (RFC 6749 section 2.3.1). client_secret_post (both in the form body) is accepted as well; OpenAPI has no scheme for body credentials.' },
      },
    },
  };
}
