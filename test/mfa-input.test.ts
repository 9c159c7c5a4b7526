// Second factors: configuration checks (WEBAUTHN_*, REQUIRE_MFA_FOR_ADMINS) and hostile input on
// the new routes (every answer a 4xx JSON error, never a 5xx).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, type Env } from '../src/config';
import { b64url, utf8 } from '../src/crypto/encoding';
import { Client, testEnv } from './helpers';
import { createCredential, getAssertion } from './mfa-authenticator';

const dev = { ENVIRONMENT: 'development', KEY_ENCRYPTION_KEY: 'test-key-encryption-key-0123456789abcdefghijklmnop' } as unknown as Env;

describe('configuration', () => {
  it('RP ID from the issuer, origins from the issuer and ALLOWED_ORIGINS on it; explicit values validated', () => {
    expect(parseConfig({ ...dev, JWT_ISSUER: 'http://localhost:8787' }).webauthn).toEqual({ rpId: 'localhost', rpName: 'edge-auth', origins: ['http://localhost:8787'] });
    const spread = parseConfig({ ...dev, JWT_ISSUER: 'https://auth.example.com', ALLOWED_ORIGINS: 'https://app.example.com,https://other.test', WEBAUTHN_RP_ID: 'example.com' });
    expect(spread.webauthn.origins).toEqual(['https://auth.example.com', 'https://app.example.com']);
    for (const [vars, name] of [
      [{ WEBAUTHN_RP_ID: 'https://example.com' }, 'WEBAUTHN_RP_ID'],
      [{ WEBAUTHN_RP_ID: 'example.com:443' }, 'WEBAUTHN_RP_ID'],
      [{ WEBAUTHN_ORIGINS: 'https://evil.test' }, 'WEBAUTHN_ORIGINS'],
      [{ WEBAUTHN_ORIGINS: 'not a url' }, 'WEBAUTHN_ORIGINS'],
      [{ WEBAUTHN_RP_NAME: 'x'.repeat(65) }, 'WEBAUTHN_RP_NAME'],
      [{ REQUIRE_MFA_FOR_ADMINS: 'yes' }, 'REQUIRE_MFA_FOR_ADMINS'],
    ] as const) {
      let error: unknown;
      try {
        parseConfig({ ...dev, JWT_ISSUER: 'http://localhost:8787', ...vars });
      } catch (err) {
        error = err;
      }
      expect(error, JSON.stringify(vars)).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe(name);
    }
    expect(parseConfig({ ...dev, REQUIRE_MFA_FOR_ADMINS: 'true' }).requireMfaForAdmins).toBe(true);
    expect(parseConfig(dev).requireMfaForAdmins).toBe(false);
  });
});

describe('hostile input on the second-factor routes', () => {
  it('garbled WebAuthn responses to the passkey sign-in: 400 or 401, never a 5xx', async () => {
    const c = new Client(testEnv());
    const { credential } = await createCredential({ challenge: 'x'.repeat(22), rp: { id: 'localhost' }, user: { id: b64url(utf8('nobody')) } });
    const b64 = fc.uint8Array({ maxLength: 300 }).map((u) => b64url(u));
    await fc.assert(
      fc.asyncProperty(
        fc.record({ clientDataJSON: fc.oneof(b64, fc.string()), authenticatorData: fc.oneof(b64, fc.string()), signature: b64, userHandle: fc.option(b64, { nil: undefined }) }),
        fc.boolean(),
        async (response, withChallenge) => {
          const body = { id: 'AAAA', rawId: 'AAAA', type: 'public-key', clientExtensionResults: {}, response };
          if (withChallenge) {
            const { options } = (await (await c.request('POST', '/auth/passkey/login/options')).json()) as { options: { challenge: string } };
            const real = await getAssertion(credential, options);
            body.response = { ...real.response, authenticatorData: response.authenticatorData, signature: response.signature };
          }
          const res = await c.request('POST', '/auth/passkey/login', { json: { response: body } });
          expect([400, 401]).toContain(res.status);
          expect(((await res.json()) as { error: string }).error).toMatch(/^(invalid_request|invalid_credentials)$/);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('garbled registration responses: 400 or 401, never a 5xx', async () => {
    // Registration options share the per-account password-check budget (10 a minute): not the subject here.
    const unthrottled = { limit: async () => ({ success: true }) } as unknown as RateLimit;
    const c = new Client({ ...testEnv(), RL_LOGIN_USER: unthrottled });
    const u = await c.signedUp();
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), fc.uint8Array({ minLength: 0, maxLength: 64 }), async (attestation, id) => {
        const { options } = (await (await c.request('POST', '/auth/passkeys/register/options', { token: u.access_token })).json()) as { options: { challenge: string } };
        const clientDataJSON = b64url(utf8(JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin: 'http://localhost:8787' })));
        const response = { id: b64url(id) || 'AA', rawId: b64url(id) || 'AA', type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON, attestationObject: b64url(attestation) } };
        const res = await c.request('POST', '/auth/passkeys/register', { token: u.access_token, json: { response } });
        expect([400, 401]).toContain(res.status);
      }),
      { numRuns: 40 },
    );
  });

  it('bad ids and bodies on passkey management and admin routes are 4xx', async () => {
    const c = new Client(testEnv());
    const u = await c.signedUp();
    for (const [method, path, json] of [
      ['PATCH', '/auth/passkeys/%00', { name: 'x' }],
      ['PATCH', `/auth/passkeys/${'A'.repeat(2000)}`, { name: 'x' }],
      ['PATCH', '/auth/passkeys/AAAA', { name: 'x'.repeat(65) }],
      ['PATCH', '/auth/passkeys/AAAA', { name: 'x', extra: true }],
      ['DELETE', '/auth/passkeys/AAAA', { password: 5 }],
      ['POST', '/auth/mfa/webauthn/options', { mfa_token: 'A'.repeat(43) }],
      ['POST', '/auth/mfa/totp/disable', { code: '123456', recovery_code: 'aaaa-aaaa-aaaa-aaaa' }],
      ['POST', '/auth/mfa/recovery-codes', { password: ['x'] }],
    ] as const) {
      const res = await c.request(method, path, { token: u.access_token, json });
      expect(res.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${method} ${path}`).toBeLessThan(500);
    }
  });
});
