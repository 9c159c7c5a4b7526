// One error type with stable codes, mapped to HTTP in one place. Messages are written for
// humans and never carry a token, password, hash or key.

export const ERROR_STATUS = {
  invalid_request: 400,
  invalid_json: 400,
  unauthorized: 401,
  invalid_token: 401,
  invalid_credentials: 401,
  invalid_grant: 401,
  insufficient_user_authentication: 401,
  insufficient_scope: 403,
  mfa_required: 403,
  registration_closed: 403,
  csrf_failed: 403,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  username_taken: 409,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  quota_exceeded: 429,
  misconfigured: 500,
  internal_error: 500,
  // D1 or KV failing or too slow (src/lib/platform-fault.ts, docs/resilience.md); with Retry-After.
  temporarily_unavailable: 503,
  bad_gateway: 502,
  gateway_timeout: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export type ErrorStatus = (typeof ERROR_STATUS)[ErrorCode];

const DEFAULT_MESSAGE: Record<ErrorCode, string> = {
  invalid_request: 'The request is not valid.',
  invalid_json: 'The request body is not valid JSON.',
  unauthorized: 'Authentication is required.',
  invalid_token: 'The access token is invalid, expired or revoked.',
  // One message for unknown user, wrong password, disabled and locked: it must not tell them apart.
  invalid_credentials: 'The credentials are incorrect, or the account is temporarily locked after repeated failed attempts.',
  invalid_grant: 'The refresh token is invalid, expired or revoked.',
  insufficient_scope: 'The access token lacks a required role.',
  mfa_required: 'This needs a sign-in with a second factor (TOTP or a passkey); sign in again with one.',
  insufficient_user_authentication: 'Sign in again, or send your current password, to do this.',
  registration_closed: 'Registration is closed.',
  csrf_failed: 'Cross-site request refused.',
  forbidden: 'Forbidden.',
  not_found: 'Not found.',
  method_not_allowed: 'Method not allowed.',
  username_taken: 'That username is taken.',
  conflict: 'The request conflicts with the current state.',
  payload_too_large: 'The request body is too large.',
  unsupported_media_type: 'The request body must be application/json.',
  rate_limited: 'Too many requests; try again later.',
  quota_exceeded: 'The usage quota is exhausted; retry after the time in Retry-After.',
  misconfigured: 'The service is misconfigured.',
  internal_error: 'Internal error.',
  temporarily_unavailable: 'The service is temporarily unavailable; retry after the time in Retry-After.',
  // Never the upstream's address: the client learns only that the backend failed.
  bad_gateway: 'The upstream service could not be reached.',
  gateway_timeout: 'The upstream service did not answer in time.',
};

export class AppError extends Error {
  readonly status: ErrorStatus;
  /** Extra response headers (WWW-Authenticate, Retry-After). */
  readonly headers: Record<string, string>;

  constructor(
    readonly code: ErrorCode,
    message?: string,
    options: { headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message ?? DEFAULT_MESSAGE[code], { cause: options.cause });
    this.name = 'AppError';
    this.status = ERROR_STATUS[code];
    this.headers = options.headers ?? {};
  }

  toJSON(): { error: ErrorCode; message: string } {
    return { error: this.code, message: this.message };
  }
}

const REALM = 'edge-auth';

/** RFC 6750 section 3: a request without a token gets only the challenge, no error code. */
export function missingToken(): AppError {
  return new AppError('unauthorized', undefined, {
    headers: { 'WWW-Authenticate': `Bearer realm="${REALM}"` },
  });
}

/** RFC 6750 section 3.1 invalid_token; `detail` stays generic (never echoes the token). */
export function invalidToken(detail?: string, cause?: unknown): AppError {
  return new AppError('invalid_token', detail, {
    cause,
    headers: {
      'WWW-Authenticate': `Bearer realm="${REALM}", error="invalid_token", error_description="${(detail ?? DEFAULT_MESSAGE.invalid_token).replace(/"/g, "'")}"`,
    },
  });
}

/** RFC 9470 step-up: the sign-in is too old for this action (or the password must be sent again). */
export function stepUpRequired(maxAge: number): AppError {
  return new AppError('insufficient_user_authentication', undefined, {
    headers: {
      'WWW-Authenticate': `Bearer realm="${REALM}", error="insufficient_user_authentication", error_description="A recent sign-in is required", max_age=${maxAge}`,
    },
  });
}

/** RFC 6750 section 3.1 insufficient_scope. */
export function insufficientScope(roles: readonly string[]): AppError {
  return new AppError('insufficient_scope', undefined, {
    headers: {
      'WWW-Authenticate': `Bearer realm="${REALM}", error="insufficient_scope", scope="${roles.join(' ')}"`,
    },
  });
}
