// application/x-www-form-urlencoded request bodies, as RFC 6749 requires for its endpoints.
// Parameters sent twice are refused (RFC 6749 section 3.2), as are unknown content types.
import type { Context } from 'hono';
import { OAuthError } from './errors';

const MAX_PARAM_LENGTH = 4096;

export async function readForm(c: Context): Promise<Map<string, string>> {
  const type = c.req.header('Content-Type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new OAuthError('invalid_request', 'The request body must be application/x-www-form-urlencoded.');
  }
  const params = new Map<string, string>();
  // Decoded from bytes: the runtime warns when text() is called on a form body.
  for (const [name, value] of new URLSearchParams(new TextDecoder().decode(await c.req.arrayBuffer()))) {
    if (params.has(name)) throw new OAuthError('invalid_request', `The parameter "${name.slice(0, 32)}" is repeated.`);
    if (value.length > MAX_PARAM_LENGTH) throw new OAuthError('invalid_request', `The parameter "${name.slice(0, 32)}" is too long.`);
    params.set(name, value);
  }
  return params;
}
