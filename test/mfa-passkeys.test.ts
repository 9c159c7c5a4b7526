// Passkeys through @simplewebauthn/server in workerd, driven by a software authenticator
// (test/mfa-authenticator.ts): registration (recent sign-in), list, rename, delete; sign-in with a
// passkey alone; a passkey as the second factor; challenges single use; wrong RP ID or origin,
// missing user verification and a counter going backwards refused.
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { describe, expect, it } from 'vitest';
import { auditLog } from '../src/db/schema';
import { webauthnCredentials } from '../src/mfa/schema';
import { Client, errorOf, testEnv, type TokenBody } from './helpers';
import { createCredential, getAssertion, type CeremonyOptions, type SoftCredential } from './mfa-authenticator';
import { claimsOf, passwordStep, verify } from './mfa-helpers';

type Options = { challenge: string; rp: { id: string; name: string }; user: { id: string; name: string }; authenticatorSelection: Record<string, unknown>; allowCredentials?: { id: string }[] };

async function registered(c: Client, o: CeremonyOptions = {}) {
  const u = await c.signedUp();
  const opts = await c.request('POST', '/auth/passkeys/register/options', { token: u.access_token });
  expect(opts.status).toBe(200);
  const { options } = (await opts.json()) as { options: Options };
  const { credential, response } = await createCredential(options, o);
  const res = await c.request('POST', '/auth/passkeys/register', { token: u.access_token, json: { response, name: 'Laptop' } });
  if (res.status !== 201) throw new Error(`register: ${res.status} ${await res.text()}`);
  return { ...u, credential, options, passkey: ((await res.json()) as { passkey: { id: string } }).passkey };
}

async function loginOptions(c: Client): Promise<Options> {
  const res = await c.request('POST', '/auth/passkey/login/options');
  expect(res.status).toBe(200);
  return ((await res.json()) as { options: Options }).options;
}

async function passkeyLogin(c: Client, credential: SoftCredential, o: CeremonyOptions & { counter?: number } = {}): Promise<Response> {
  const response = await getAssertion(credential, await loginOptions(c), o);
  return c.request('POST', '/auth/passkey/login', { json: { response } });
}

describe('passkey registration', () => {
  it('options ask for a resident key and user verification; the passkey is stored (public key only) and listed', async () => {
    const c = new Client(testEnv());
    const u = await registered(c);
    expect(u.options.rp.id).toBe('localhost');
    expect(u.options.authenticatorSelection).toMatchObject({ residentKey: 'required', userVerification: 'required' });
    const list = await c.request('GET', '/auth/passkeys', { token: u.access_token });
    const { passkeys } = (await list.json()) as { passkeys: { id: string; name: string; device_type: string }[] };
    expect(passkeys).toEqual([expect.objectContaining({ id: u.passkey.id, name: 'Laptop', device_type: 'singleDevice', last_used_at: null })]);
    const row = await drizzle(c.env.DB).select().from(webauthnCredentials).where(eq(webauthnCredentials.id, u.passkey.id)).get();
    expect(row!.userId).toBe(u.id);
  });

  it('needs a recent sign-in', async () => {
    const c = new Client(testEnv());
    const u = await c.signedUp();
    c.clock.advance(301);
    const res = await c.request('POST', '/auth/passkeys/register/options', { token: u.access_token });
    expect(res.status).toBe(401);
    expect((await errorOf(res)).error).toBe('insufficient_user_authentication');
  });

  it('refuses a response for another RP ID or origin, without user verification, or with a used challenge', async () => {
    const c = new Client(testEnv());
    const u = await c.signedUp();
    const fresh = async () => ((await (await c.request('POST', '/auth/passkeys/register/options', { token: u.access_token })).json()) as { options: Options }).options;
    for (const o of [{ rpId: 'evil.example' }, { origin: 'https://evil.example' }, { noUv: true }]) {
      const { response } = await createCredential(await fresh(), o);
      const res = await c.request('POST', '/auth/passkeys/register', { token: u.access_token, json: { response } });
      expect(res.status, JSON.stringify(o)).toBe(401);
      expect((await errorOf(res)).error).toBe('invalid_credentials');
    }
    const options = await fresh();
    const first = await createCredential(options);
    expect((await c.request('POST', '/auth/passkeys/register', { token: u.access_token, json: { response: first.response } })).status).toBe(201);
    const second = await createCredential(options);
    expect((await c.request('POST', '/auth/passkeys/register', { token: u.access_token, json: { response: second.response } })).status).toBe(401);
    const malformed = await c.request('POST', '/auth/passkeys/register', { token: u.access_token, json: { response: { ...first.response, response: { ...first.response.response, clientDataJSON: 'bm90IGpzb24' } } } });
    expect(malformed.status).toBe(400);
  });

  it('rename and delete (own passkeys only)', async () => {
    const c = new Client(testEnv());
    const u = await registered(c);
    const other = await c.signedUp();
    expect((await c.request('PATCH', `/auth/passkeys/${u.passkey.id}`, { token: other.access_token, json: { name: 'mine now' } })).status).toBe(404);
    expect((await c.request('PATCH', `/auth/passkeys/${u.passkey.id}`, { token: u.access_token, json: { name: '  Work phone ' } })).status).toBe(204);
    const list = (await (await c.request('GET', '/auth/passkeys', { token: u.access_token })).json()) as { passkeys: { name: string }[] };
    expect(list.passkeys[0]!.name).toBe('Work phone');
    expect((await c.request('PATCH', `/auth/passkeys/${u.passkey.id}`, { token: u.access_token, json: { name: '' } })).status).toBe(400);
    expect((await c.request('DELETE', `/auth/passkeys/${u.passkey.id}`, { token: other.access_token })).status).toBe(404);
    expect((await c.request('DELETE', `/auth/passkeys/${u.passkey.id}`, { token: u.access_token })).status).toBe(204);
    expect((await passkeyLogin(c, u.credential)).status).toBe(401);
    const events = (await drizzle(c.env.DB).select().from(auditLog).where(eq(auditLog.subjectId, u.id)).all()).map((e) => e.event);
    expect(events).toEqual(expect.arrayContaining(['passkey_register', 'passkey_rename', 'passkey_delete']));
  });
});

describe('sign-in with a passkey alone', () => {
  it('no username: the credential names the account; amr [hwk, mfa], or swk for a synced passkey', async () => {
    const c = new Client(testEnv());
    const u = await registered(c);
    const res = await passkeyLogin(c, u.credential);
    expect(res.status).toBe(200);
    const tokens = (await res.json()) as TokenBody;
    expect(tokens.user.id).toBe(u.id);
    expect(claimsOf(tokens.access_token)).toMatchObject({ amr: ['hwk', 'mfa'], auth_time: c.clock.seconds });

    const synced = await registered(c, { synced: true });
    const s = (await (await passkeyLogin(c, synced.credential, { synced: true })).json()) as TokenBody;
    expect(claimsOf(s.access_token).amr).toEqual(['swk', 'mfa']);
  });

  it('a challenge is used once, and expires', async () => {
    const c = new Client(testEnv());
    const u = await registered(c);
    const options = await loginOptions(c);
    const response = await getAssertion(u.credential, options);
    expect((await c.request('POST', '/auth/passkey/login', { json: { response } })).status).toBe(200);
    expect((await c.request('POST', '/auth/passkey/login', { json: { response } })).status).toBe(401);
    const late = await loginOptions(c);
    c.clock.advance(181);
    expect((await c.request('POST', '/auth/passkey/login', { json: { response: await getAssertion(u.credential, late) } })).status).toBe(401);
  });

  it('refuses another RP ID, another origin, no user verification, a counter going backwards, an unknown credential', async () => {
    const c = new Client(testEnv());
    const u = await registered(c);
    for (const o of [{ rpId: 'evil.example' }, { origin: 'https://evil.example' }, { noUv: true }]) {
      const res = await passkeyLogin(c, u.credential, o);
      expect(res.status, JSON.stringify(o)).toBe(401);
      expect((await errorOf(res)).error).toBe('invalid_credentials');
    }
    expect((await passkeyLogin(c, u.credential, { counter: 5 })).status).toBe(200);
    expect((await passkeyLogin(c, u.credential, { counter: 5 })).status).toBe(401);
    expect((await passkeyLogin(c, u.credential, { counter: 3 })).status).toBe(401);
    expect((await passkeyLogin(c, u.credential, { counter: 6 })).status).toBe(200);
    const stranger = await createCredential({ challenge: 'x'.repeat(22), rp: { id: 'localhost' }, user: { id: 'bm9ib2R5' } });
    expect((await passkeyLogin(c, stranger.credential)).status).toBe(401);
    const audit = await drizzle(c.env.DB).select().from(auditLog).where(eq(auditLog.event, 'passkey_login')).all();
    expect(audit.some((a) => a.outcome === 'failure')).toBe(true);
  });
});

describe('a passkey as the second factor', () => {
  it('password, then an assertion over the mfa challenge: amr [pwd, hwk, mfa]', async () => {
    const c = new Client(testEnv());
    const u = await registered(c);
    const pending = await passwordStep(c, u.username);
    expect(pending.methods).toEqual(['webauthn']);
    const opts = await c.request('POST', '/auth/mfa/webauthn/options', { json: { mfa_token: pending.mfa_token } });
    const { options } = (await opts.json()) as { options: Options };
    expect(options.allowCredentials!.map((a) => a.id)).toEqual([u.passkey.id]);
    const res = await verify(c, { mfa_token: pending.mfa_token, webauthn: await getAssertion(u.credential, options) });
    expect(res.status).toBe(200);
    expect(claimsOf(((await res.json()) as TokenBody).access_token).amr).toEqual(['pwd', 'hwk', 'mfa']);
  });

  it("another user's passkey, or a sign-in challenge, does not finish this login", async () => {
    const c = new Client(testEnv());
    const u = await registered(c);
    const other = await registered(c);
    const pending = await passwordStep(c, u.username);
    const { options } = (await (await c.request('POST', '/auth/mfa/webauthn/options', { json: { mfa_token: pending.mfa_token } })).json()) as { options: Options };
    expect((await verify(c, { mfa_token: pending.mfa_token, webauthn: await getAssertion(other.credential, options) })).status).toBe(401);
    const signIn = await loginOptions(c);
    expect((await verify(c, { mfa_token: pending.mfa_token, webauthn: await getAssertion(u.credential, signIn) })).status).toBe(401);
  });
});

describe('src/mfa/webauthn-verify.ts agrees with @simplewebauthn/server', () => {
  // The Worker verifies WebAuthn itself (the library's attestation stack would cost a third of the
  // bundle budget); the library, run here in workerd, is the reference for the same bytes.
  it('both accept the same registration and assertion, and both refuse a wrong RP ID, origin or missing UV', async () => {
    const { verifyAuthenticationResponse, verifyRegistrationResponse } = await import('@simplewebauthn/server');
    const { verifyAssertionSignature, verifyRegistration } = await import('../src/mfa/webauthn-verify');
    const expected = { challenge: 'Y2hhbGxlbmdlLWNoYWxsZW5nZS0xMjM0', origins: ['http://localhost:8787'], rpId: 'localhost' };
    const lib = { expectedChallenge: expected.challenge, expectedOrigin: expected.origins, expectedRPID: expected.rpId, requireUserVerification: true };
    const options = { challenge: expected.challenge, rp: { id: 'localhost' }, user: { id: 'dXNlcg' } };

    const { credential, response } = await createCredential(options);
    const ours = await verifyRegistration(response.response, response.id, expected);
    const theirs = await verifyRegistrationResponse({ response: response as never, ...lib });
    expect(theirs.verified).toBe(true);
    expect(ours.publicKey).toEqual(new Uint8Array(theirs.registrationInfo!.credential.publicKey));
    expect(ours.deviceType).toBe(theirs.registrationInfo!.credentialDeviceType);

    const assertion = await getAssertion(credential, options, { counter: 7 });
    const stored = { id: response.id, publicKey: ours.publicKey, counter: 0 };
    expect((await verifyAssertionSignature(assertion.response, stored, expected)).newCounter).toBe(7);
    const libAssertion = await verifyAuthenticationResponse({ response: assertion as never, ...lib, credential: stored as never });
    expect(libAssertion.authenticationInfo.newCounter).toBe(7);

    for (const o of [{ rpId: 'evil.example' }, { origin: 'https://evil.example' }, { noUv: true }]) {
      const bad = await getAssertion(credential, options, { ...o, counter: 8 });
      await expect(verifyAssertionSignature(bad.response, stored, expected)).rejects.toThrow();
      await expect(verifyAuthenticationResponse({ response: bad as never, ...lib, credential: stored as never })).rejects.toThrow();
    }
  });
});
