// The AuthService RPC entrypoint, called through the Worker's own loopback binding
// (`exports.AuthService`, the same stub another Worker gets from a service binding). It runs on the
// real clock, so these clients use the real time too. examples/consumer tests a real second Worker.
import { exports } from 'cloudflare:workers';
import { decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { verifyToken } from '../src/rpc';
import { Client, TestClock, testEnv } from './helpers';

const realNow = () => Math.floor(Date.now() / 1000);

describe('AuthService.verify over RPC', () => {
  const client = () => new Client(testEnv(), new TestClock(realNow()));

  it('accepts a good token and returns its claims', async () => {
    const c = client();
    const t = await c.signedUp();
    const result = await exports.AuthService.verify(t.access_token);
    expect(result).toEqual({
      ok: true,
      claims: { type: 'user', sub: t.user.id, username: t.username, sid: expect.any(String), jti: expect.any(String), roles: [], iat: expect.any(Number), exp: expect.any(Number), amr: ['pwd'], auth_time: expect.any(Number) },
    });
  });

  it('refuses a revoked token (same revocation list as requireAuth)', async () => {
    const c = client();
    const t = await c.signedUp();
    expect((await exports.AuthService.verify(t.access_token)).ok).toBe(true);
    expect((await c.request('POST', '/auth/logout', { token: t.access_token })).status).toBe(204);
    expect(await exports.AuthService.verify(t.access_token)).toEqual({ ok: false, error: 'invalid_token', message: 'The access token has been revoked.' });
  });

  it('refuses an expired token', async () => {
    const c = new Client(testEnv(), new TestClock(realNow() - 900 - 31)); // issued long enough ago
    const t = await c.signedUp();
    expect(await exports.AuthService.verify(t.access_token)).toEqual({ ok: false, error: 'invalid_token', message: 'The access token has expired.' });
  });

  it('refuses forged and malformed tokens with a typed failure, never an exception', async () => {
    const c = client();
    const t = await c.signedUp();
    const { kid } = decodeProtectedHeader(t.access_token);
    const claims = JSON.parse(atob(t.access_token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>;
    const forged = await new SignJWT({ ...claims, roles: ['admin'] })
      .setProtectedHeader({ alg: 'ES256', kid: kid!, typ: 'at+jwt' })
      .sign((await generateKeyPair('ES256')).privateKey);
    const unknownKid = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'nobody-knows-me', typ: 'at+jwt' })
      .sign((await generateKeyPair('ES256')).privateKey);
    for (const token of [forged, unknownKid, 'not.a.jwt', '', 'x'.repeat(10_000)]) {
      const result = await exports.AuthService.verify(token);
      expect(result, token.slice(0, 20)).toMatchObject({ ok: false, error: 'invalid_token' });
      expect(JSON.stringify(result)).not.toContain(token.slice(0, 40) || 'never');
    }
    // Untyped callers: anything but a string is refused as well.
    expect(await exports.AuthService.verify(42 as unknown as string)).toMatchObject({ ok: false, error: 'invalid_token' });
  });

  it('checks roles when asked', async () => {
    const c = client();
    const t = await c.signedUp();
    expect(await exports.AuthService.verify(t.access_token, { roles: ['admin'] })).toMatchObject({ ok: false, error: 'insufficient_scope' });
    expect(await exports.AuthService.verify(t.access_token, { roles: ['Not A Role'] })).toMatchObject({ ok: false, error: 'invalid_request' });
  });
});

describe('verifyToken with an explicit clock, for both algorithms', () => {
  it.each(['ES256', 'HS256'] as const)('%s: good, then expired by the clock', async (alg) => {
    const env = testEnv({ JWT_ALG: alg });
    const c = new Client(env);
    const t = await c.signedUp();
    expect(await verifyToken(env, t.access_token, c.clock.seconds)).toMatchObject({ ok: true, claims: { sub: t.user.id } });
    expect(await verifyToken(env, t.access_token, c.clock.seconds + 900 + 30)).toMatchObject({ ok: false, error: 'invalid_token' });
  });

  it('reports a misconfigured service as such, not as a bad token', async () => {
    const env = testEnv({ JWT_ALG: 'RS256' });
    expect(await verifyToken(env, 'a.b.c', 1_800_000_000)).toEqual({ ok: false, error: 'misconfigured', message: 'The auth service is misconfigured.' });
  });
});
