// The consumer Worker and the real edge-auth Worker, side by side: every request below goes
// consumer -> service binding (RPC) -> edge-auth's AuthService.verify.
import { env, exports } from 'cloudflare:workers';
import { decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { withLowS } from '../../../src/crypto/ecdsa';
import { importKey, type StoredKey } from '../../../src/tokens/key-material';

interface Bindings {
  AUTH_DB: D1Database;
  AUTH_HTTP: Fetcher;
  KEY_ENCRYPTION_KEY: string;
}
const bindings = env as unknown as Bindings;
const consumer = exports.default as unknown as { fetch(request: Request): Promise<Response> };

let n = 0;
async function signedUp(): Promise<{ id: string; username: string; password: string; access_token: string }> {
  const username = `consumer${++n}_${Math.random().toString(36).slice(2, 8)}`;
  const password = 'correct horse battery';
  const post = (path: string, body: unknown) =>
    bindings.AUTH_HTTP.fetch(`http://edge-auth${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const reg = await post('/auth/register', { username, password });
  expect(reg.status).toBe(201);
  const login = await post('/auth/login', { username, password });
  expect(login.status).toBe(200);
  const body = (await login.json()) as { access_token: string; user: { id: string } };
  return { id: body.user.id, username, password, access_token: body.access_token };
}

function hello(token?: string, path = '/hello'): Promise<Response> {
  return consumer.fetch(new Request(`http://consumer${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} }));
}

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>;
}

/** edge-auth's own active signing key, read from its D1 and decrypted with its test secret. */
async function serviceKey(kid: string): Promise<CryptoKey> {
  const row = await bindings.AUTH_DB.prepare('SELECT kid, alg, public_jwk AS publicJwk, private_enc AS privateEnc FROM signing_keys WHERE kid = ?')
    .bind(kid)
    .first<StoredKey>();
  return importKey(row!, bindings.KEY_ENCRYPTION_KEY, 'sign');
}

describe('consumer Worker -> AuthService over a service binding', () => {
  it('accepts a good token', async () => {
    const t = await signedUp();
    const res = await hello(t.access_token);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ message: `Hello, ${t.username}.`, user: { id: t.id, roles: [] } });
  });

  it('refuses a revoked token', async () => {
    const t = await signedUp();
    expect((await hello(t.access_token)).status).toBe(200);
    const logout = await bindings.AUTH_HTTP.fetch('http://edge-auth/auth/logout', { method: 'POST', headers: { Authorization: `Bearer ${t.access_token}` } });
    expect(logout.status).toBe(204);
    const res = await hello(t.access_token);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'invalid_token', message: 'The access token has been revoked.' });
  });

  it('refuses an expired token signed with the real key (and accepts the same token unexpired)', async () => {
    const t = await signedUp();
    const { kid } = decodeProtectedHeader(t.access_token);
    const key = await serviceKey(kid!);
    const now = Math.floor(Date.now() / 1000);
    // Low-S, as the service issues them: the service refuses the high-S twin (about half of what
    // WebCrypto produces), which would make the control fail at random.
    const sign = async (iat: number, exp: number) =>
      withLowS(await new SignJWT({ ...claimsOf(t.access_token), iat, exp }).setProtectedHeader({ alg: 'ES256', kid: kid!, typ: 'at+jwt' }).sign(key));
    expect((await hello(await sign(now - 10, now + 600))).status).toBe(200); // the control
    const res = await hello(await sign(now - 2000, now - 1000));
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'invalid_token', message: 'The access token has expired.' });
  });

  it('refuses forged tokens', async () => {
    const t = await signedUp();
    const { kid } = decodeProtectedHeader(t.access_token);
    const forged = await new SignJWT({ ...claimsOf(t.access_token), roles: ['admin'] })
      .setProtectedHeader({ alg: 'ES256', kid: kid!, typ: 'at+jwt' })
      .sign((await generateKeyPair('ES256')).privateKey);
    const [h, p, s] = t.access_token.split('.') as [string, string, string];
    const tampered = `${h}.${btoa(JSON.stringify({ ...claimsOf(t.access_token), roles: ['admin'] })).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')}.${s}`;
    for (const token of [forged, tampered, `${h}.${p}.`]) {
      const res = await hello(token, '/admin');
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: string }).error).toBe('invalid_token');
    }
  });

  it('maps roles: 403 insufficient_scope without admin, 401 without a token', async () => {
    const t = await signedUp();
    const res = await hello(t.access_token, '/admin');
    expect(res.status).toBe(403);
    expect(res.headers.get('WWW-Authenticate')).toBe('Bearer error="insufficient_scope"');
    expect((await hello(undefined)).status).toBe(401);
  });
});
