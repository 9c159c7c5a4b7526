// RFC 6749 section 5.2 errors: OAuth clients parse `{error, error_description}`, so the /oauth
// endpoints answer in that shape, not the house `{error, message}`. Descriptions are generic and
// never echo a secret or a token.
import { AppError } from '../errors';

export type OAuthErrorCode = 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unauthorized_client' | 'unsupported_grant_type' | 'invalid_scope' | 'temporarily_unavailable';

const STATUS: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  // RFC 6749 section 5.2: 401 with a challenge for the scheme the client may use.
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  temporarily_unavailable: 503,
};

export class OAuthError extends Error {
  constructor(
    readonly code: OAuthErrorCode,
    readonly description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
    this.name = 'OAuthError';
  }

  get status(): number {
    return STATUS[this.code];
  }
}

export function invalidClient(description = 'Client authentication failed.'): OAuthError {
  return new OAuthError('invalid_client', description, { 'WWW-Authenticate': 'Basic realm="edge-auth", charset="UTF-8"' });
}

/** The RFC 6749 response for any error raised while serving an /oauth endpoint. */
export function oauthErrorResponse(err: unknown): Response | undefined {
  let e: OAuthError | undefined;
  if (err instanceof OAuthError) e = err;
  else if (err instanceof AppError && err.code === 'rate_limited') e = new OAuthError('invalid_request', 'Too many requests; try again later.', err.headers);
  else if (err instanceof AppError && err.status < 500) e = new OAuthError('invalid_request', err.message);
  if (!e) return undefined; // a server fault: the app's error handler answers (house format, logged)
  const status = err instanceof AppError && err.code === 'rate_limited' ? 429 : e.status;
  return Response.json(
    { error: e.code, error_description: e.description },
    { status, headers: { 'Cache-Control': 'no-store', Pragma: 'no-cache', ...e.headers } },
  );
}
