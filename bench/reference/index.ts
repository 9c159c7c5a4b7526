// Reference Worker: the protected route as a Hono user writes it without edge-auth, with Hono's
// own `hono/jwt` middleware and the same key and claim checks (alg pinned, iss, aud, typ, exp).
// It does no revocation check and no key-ring lookup: the gap between this Worker and the
// service's /api/private is what the service's extra guarantees cost per request.
//
// Bindings (set by bench/run.mjs, never deployed):
//   JWT_ALG       "HS256" | "ES256"
//   JWT_SECRET    HS256 shared secret (the service's JWT_SECRET)
//   JWT_PUBLIC_JWK  ES256 public key as a JSON JWK (taken from the service's JWKS)
//   JWT_ISSUER, JWT_AUDIENCE  as in the service's wrangler.toml
import { Hono } from 'hono';
import { jwt } from 'hono/jwt';

type Bindings = {
  JWT_ALG: 'HS256' | 'ES256';
  JWT_SECRET?: string;
  JWT_PUBLIC_JWK?: string;
  JWT_ISSUER: string;
  JWT_AUDIENCE: string;
};

type Claims = { sub: string; roles?: string[] };

const app = new Hono<{ Bindings: Bindings; Variables: { jwtPayload: Claims } }>();

app.get('/health', (c) => c.json({ status: 'ok' }));

// The documented pattern for keys that live in `env`: build the middleware inside a handler.
app.use('/api/*', (c, next) => {
  const secret = c.env.JWT_ALG === 'ES256' ? JSON.parse(c.env.JWT_PUBLIC_JWK ?? 'null') : c.env.JWT_SECRET;
  return jwt({
    secret,
    alg: c.env.JWT_ALG,
    verification: { iss: c.env.JWT_ISSUER, aud: c.env.JWT_AUDIENCE, typ: 'at+jwt' },
  })(c, next);
});

app.get('/api/private', (c) => {
  const claims = c.get('jwtPayload');
  return c.json({ message: 'Hello from a protected route', user: { id: claims.sub, roles: claims.roles ?? [] } });
});

export default app;
