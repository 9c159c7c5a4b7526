// An example consumer of edge-auth: a Worker whose routes are protected by calling
// `env.AUTH.verify(token)` over a service binding. The auth Worker applies every check (signature,
// kid, iss/aud/exp, revocation, roles); this Worker only maps the typed result to HTTP.
import type { AuthService, VerifyResult } from '../../../src/rpc';

export interface Env {
  AUTH: Service<AuthService>;
}

const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return Response.json(body, { status, headers: { 'Cache-Control': 'no-store', ...headers } });
}

/** RFC 6750 status and challenge for a failed verification. */
function refuse(result: Extract<VerifyResult, { ok: false }>): Response {
  const body = { error: result.error, message: result.message };
  switch (result.error) {
    case 'invalid_token':
      return json(401, body, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
    case 'insufficient_scope':
      return json(403, body, { 'WWW-Authenticate': 'Bearer error="insufficient_scope"' });
    case 'invalid_request':
      return json(400, body);
    default:
      return json(503, body); // the auth service itself is unwell: not the caller's fault
  }
}

export default {
  async fetch(request, env): Promise<Response> {
    const { pathname } = new URL(request.url);
    const roles = pathname === '/admin' ? ['admin'] : pathname === '/hello' ? [] : undefined;
    if (roles === undefined || request.method !== 'GET') return json(404, { error: 'not_found', message: 'Not found.' });

    const match = BEARER.exec(request.headers.get('Authorization')?.trim() ?? '');
    if (!match) return json(401, { error: 'unauthorized', message: 'Authentication is required.' }, { 'WWW-Authenticate': 'Bearer' });

    const result = await env.AUTH.verify(match[1]!, { roles });
    if (!result.ok) return refuse(result);
    return json(200, { message: `Hello, ${result.claims.username}.`, user: { id: result.claims.sub, roles: result.claims.roles } });
  },
} satisfies ExportedHandler<Env>;
