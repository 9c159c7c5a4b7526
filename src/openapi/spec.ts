// The vocabulary of the OpenAPI description (build time only: nothing in src/openapi/ is imported
// by the Worker). An operation names the schemas its route validates with (exported by the route
// modules, so the document cannot drift from them), its success responses and the error codes it
// may answer; document.ts turns the table into OpenAPI 3.1 and groups the codes by status.
import type * as z from 'zod/mini';
import type { ErrorCode } from '../errors';

/** How a caller may authenticate; each is a security scheme of the document. */
export type Credential = 'bearer' | 'cookie' | 'apiKey' | 'clientToken' | 'clientBasic';

export interface SuccessResponse {
  description: string;
  /** JSON body; absent for an empty body (204, or 200 with no content). */
  schema?: z.ZodMiniType;
  /** Another media type than application/json (CSV). */
  contentType?: string;
  /** Further media types of the same answer, by content negotiation: media type → description. */
  alternatives?: Record<string, string>;
  /** Response headers the client can rely on (name → description). */
  headers?: Record<string, string>;
  /** Session cookies are set (cookie mode). */
  setsCookies?: boolean;
}

export interface Operation {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** OpenAPI template: `/auth/sessions/{id}`. */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  /** Accepted credentials, any one of them; empty: public. */
  security: Credential[];
  /** Roles required (any of), for the description. */
  roles?: string[];
  /** The JSON body schema the route validates with. */
  body?: z.ZodMiniType;
  /** The body may be left out entirely. */
  bodyOptional?: boolean;
  /** application/x-www-form-urlencoded body (OAuth endpoints), described as a JSON Schema object. */
  form?: z.ZodMiniType;
  /** The query schema the route validates with. */
  query?: z.ZodMiniType;
  /** Path parameters: name → schema. */
  params?: Record<string, z.ZodMiniType>;
  responses: Partial<Record<200 | 201 | 202 | 204, SuccessResponse>>;
  /** Error codes this operation may answer beyond the ones every request may get. */
  errors: ErrorCode[];
  /** RFC 6749 error bodies (`error`, `error_description`) instead of the house format. */
  oauthErrors?: string[];
}

/** Errors by what a route does: compose an operation's list from these. */
export const ERRORS = {
  /** A JSON body: content type, syntax, shape, size. */
  json: ['invalid_request', 'invalid_json', 'unsupported_media_type', 'payload_too_large'],
  /** A validated query string. */
  query: ['invalid_request'],
  /** Any authenticated route: no credential, a bad, expired or revoked one; a usage quota (docs/usage.md). */
  auth: ['unauthorized', 'invalid_token', 'quota_exceeded'],
  /** Routes limited to some subjects (a user's session, not an API key or a client). */
  subject: ['forbidden'],
  roles: ['insufficient_scope'],
  /** The administrator API: an admin role, read fresh, optionally a second factor and a recent sign-in. */
  admin: ['unauthorized', 'invalid_token', 'forbidden', 'insufficient_scope', 'mfa_required', 'quota_exceeded'],
  /** A [[ratelimits]] throttle. */
  throttled: ['rate_limited'],
  /** A path parameter naming something that may not exist. */
  notFound: ['not_found'],
} as const satisfies Record<string, readonly ErrorCode[]>;

/** Errors any request may meet: a broken deployment or a store that is down. */
export const ALWAYS: ErrorCode[] = ['internal_error', 'misconfigured', 'temporarily_unavailable'];

/** Headers an error response always carries, by code (RFC 6750 challenges, RFC 9110 Retry-After). */
export const ERROR_HEADERS: Partial<Record<ErrorCode, string[]>> = {
  unauthorized: ['WWW-Authenticate'],
  invalid_token: ['WWW-Authenticate'],
  insufficient_user_authentication: ['WWW-Authenticate'],
  insufficient_scope: ['WWW-Authenticate'],
  rate_limited: ['Retry-After'],
  quota_exceeded: ['Retry-After', 'RateLimit-Policy', 'RateLimit'],
  temporarily_unavailable: ['Retry-After'],
};

export function op(o: Operation): Operation {
  return o;
}

/** An operation's error list from traits and extra codes, without repeats. */
export function errors(...lists: readonly (readonly ErrorCode[] | ErrorCode)[]): ErrorCode[] {
  return [...new Set(lists.flatMap((l) => (typeof l === 'string' ? [l] : l)))];
}
