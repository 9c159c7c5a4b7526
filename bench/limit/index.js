// The physical limit of a protected route (issue 18): the bare route plus what any verifier must
// pay at least, one WebCrypto `verify` of the token's signature, with the key imported once per
// isolate and cached (hono/jwt, the reference, re-imports its key on every request, so it is not
// the floor). It decodes the payload only to answer with the subject, and checks nothing else: no
// claims, no revocation, no key ring. The service's protected route is reported against it.
//
// Bindings (set by bench/run.mjs, never deployed):
//   JWT_ALG         "HS256" | "ES256"
//   JWT_SECRET      HS256 shared secret (the service's JWT_SECRET)
//   JWT_PUBLIC_JWK  ES256 public key as a JSON JWK (taken from the service's JWKS)
const headers = { 'content-type': 'application/json' };
const unauthorized = () => new Response('{"error":"invalid_token"}', { status: 401, headers });

let cached; // { alg, key: Promise<CryptoKey> }, once per isolate

function keyOf(env) {
  if (!cached) {
    const key =
      env.JWT_ALG === 'ES256'
        ? crypto.subtle.importKey('jwk', JSON.parse(env.JWT_PUBLIC_JWK), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify'])
        : crypto.subtle.importKey('raw', new TextEncoder().encode(env.JWT_SECRET), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
    cached = { alg: env.JWT_ALG === 'ES256' ? { name: 'ECDSA', hash: 'SHA-256' } : 'HMAC', key };
  }
  return cached;
}

function fromB64url(text) {
  const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export default {
  async fetch(request, env) {
    const token = request.headers.get('authorization')?.slice('Bearer '.length) ?? '';
    const parts = token.split('.');
    if (parts.length !== 3) return unauthorized();
    const { alg, key } = keyOf(env);
    const signed = new TextEncoder().encode(`${parts[0]}.${parts[1]}`);
    if (!(await crypto.subtle.verify(alg, await key, fromB64url(parts[2]), signed))) return unauthorized();
    const claims = JSON.parse(new TextDecoder().decode(fromB64url(parts[1])));
    return new Response(JSON.stringify({ message: 'Hello from a protected route', user: { id: claims.sub } }), { headers });
  },
};
