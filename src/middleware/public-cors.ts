// CORS for the public documents (/.well-known/*): any origin may read them, never with credentials.
// The headers hono's cors({ origin: '*', allowMethods: GET/HEAD/OPTIONS, maxAge: 86400 }) gave,
// computed once, like the API's CORS in api-headers.ts (issue 18: no per-request option handling,
// and one middleware module less in the bundle).
import type { MiddlewareHandler } from 'hono';

const PREFLIGHT: [string, string][] = [
  ['Access-Control-Allow-Origin', '*'],
  ['Access-Control-Max-Age', '86400'],
  ['Access-Control-Allow-Methods', 'GET,HEAD,OPTIONS'],
];

export const publicCors: MiddlewareHandler = async (c, next) => {
  if (c.req.method === 'OPTIONS') {
    const headers = new Headers(PREFLIGHT);
    const requested = c.req.header('Access-Control-Request-Headers');
    if (requested) {
      headers.set('Access-Control-Allow-Headers', requested.split(',').map((h) => h.trim()).join(','));
      headers.append('Vary', 'Access-Control-Request-Headers');
    }
    return new Response(null, { headers, status: 204, statusText: 'No Content' });
  }
  await next();
  c.res.headers.set('Access-Control-Allow-Origin', '*');
};
