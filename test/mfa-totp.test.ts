// TOTP (RFC 6238) in workerd: the generator against the RFC's own vectors, set-up and
// confirmation, secrets encrypted at rest, replay refused, recovery codes shown once and single use,
// disabling with a code or a recovery code.
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { describe, expect, it } from 'vitest';
import { auditLog } from '../src/db/schema';
import { utf8 } from '../src/crypto/encoding';
import { base32Decode, base32Encode, hotp, matchTotp, totp, type OtpHash } from '../src/mfa/otp';
import { mfaRecoveryCodes, mfaTotp } from '../src/mfa/schema';
import { Client, errorOf, testEnv } from './helpers';
import { codeAt, enrolled, passwordStep, verify } from './mfa-helpers';

describe('RFC 6238 appendix B test vectors', () => {
  // The seeds of the RFC: the ASCII digits repeated to the hash's key length; 8-digit codes.
  const seeds: Record<OtpHash, Uint8Array<ArrayBuffer>> = {
    'SHA-1': utf8('12345678901234567890'),
    'SHA-256': utf8('12345678901234567890123456789012'),
    'SHA-512': utf8('1234567890123456789012345678901234567890123456789012345678901234'),
  };
  const vectors: [number, Record<OtpHash, string>][] = [
    [59, { 'SHA-1': '94287082', 'SHA-256': '46119246', 'SHA-512': '90693936' }],
    [1111111109, { 'SHA-1': '07081804', 'SHA-256': '68084774', 'SHA-512': '25091201' }],
    [1111111111, { 'SHA-1': '14050471', 'SHA-256': '67062674', 'SHA-512': '99943326' }],
    [1234567890, { 'SHA-1': '89005924', 'SHA-256': '91819424', 'SHA-512': '93441116' }],
    [2000000000, { 'SHA-1': '69279037', 'SHA-256': '90698825', 'SHA-512': '38618901' }],
    [20000000000, { 'SHA-1': '65353130', 'SHA-256': '77737706', 'SHA-512': '47863826' }],
  ];
  for (const [time, expected] of vectors) {
    it(`T = ${time}`, async () => {
      for (const hash of ['SHA-1', 'SHA-256', 'SHA-512'] as const) {
        expect(await totp(seeds[hash], time, { digits: 8, hash })).toBe(expected[hash]);
      }
    });
  }

  it('RFC 4226 appendix D HOTP values (counter 0..9)', async () => {
    const expected = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];
    for (let i = 0; i < 10; i++) expect(await hotp(seeds['SHA-1'], i)).toBe(expected[i]);
  });

  it('base32 round-trips and reads what apps write (lower case, spaces, padding)', () => {
    const bytes = crypto.getRandomValues(new Uint8Array(20));
    const text = base32Encode(bytes);
    expect(text).toMatch(/^[A-Z2-7]{32}$/);
    expect(base32Decode(text)).toEqual(bytes);
    expect(base32Decode(text.toLowerCase().replace(/(.{4})/g, '$1 '))).toEqual(bytes);
    expect(base32Encode(utf8('foobar'))).toBe('MZXW6YTBOI'); // RFC 4648 section 10
    expect(() => base32Decode('not*base32')).toThrow();
  });

  it('accepts one step of skew either side, not two; never a step at or before the last used', async () => {
    const secret = base32Encode(crypto.getRandomValues(new Uint8Array(20)));
    const now = 1_800_000_015;
    const step = Math.floor(now / 30);
    for (const [offset, ok] of [[-2, false], [-1, true], [0, true], [1, true], [2, false]] as const) {
      const code = await codeAt(secret, now + offset * 30);
      expect(await matchTotp(secret, code, now, 0)).toBe(ok ? step + offset : undefined);
    }
    expect(await matchTotp(secret, await codeAt(secret, now), now, step)).toBeUndefined();
    expect(await matchTotp(secret, '12345', now, 0)).toBeUndefined();
  });
});

describe('TOTP set-up', () => {
  it('setup returns the secret and an otpauth URI; the secret is encrypted at rest; confirm enables and returns 10 recovery codes', async () => {
    const c = new Client(testEnv());
    const u = await c.signedUp();
    const res = await c.request('POST', '/auth/mfa/totp/setup', { token: u.access_token });
    expect(res.status).toBe(200);
    const { secret, otpauth_uri } = (await res.json()) as { secret: string; otpauth_uri: string };
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(otpauth_uri);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.searchParams.get('secret')).toBe(secret);
    expect(decodeURIComponent(uri.pathname)).toContain(u.username);

    const row = await drizzle(c.env.DB).select().from(mfaTotp).where(eq(mfaTotp.userId, u.id)).get();
    expect(row!.enabledAt).toBeNull();
    expect(row!.secretEnc).not.toContain(secret);
    expect(row!.secretEnc).toMatch(/^v1\./);

    // Pending is not enabled: the password still signs in alone.
    expect((await c.login(u.username, u.password)).access_token).toBeTruthy();

    const wrong = await c.request('POST', '/auth/mfa/totp/confirm', { token: u.access_token, json: { code: '000000' === (await codeAt(secret, c.clock.seconds)) ? '111111' : '000000' } });
    expect(wrong.status).toBe(401);
    const ok = await c.request('POST', '/auth/mfa/totp/confirm', { token: u.access_token, json: { code: await codeAt(secret, c.clock.seconds) } });
    expect(ok.status).toBe(200);
    const { recovery_codes } = (await ok.json()) as { recovery_codes: string[] };
    expect(recovery_codes).toHaveLength(10);
    expect(new Set(recovery_codes).size).toBe(10);
    for (const code of recovery_codes) expect(code).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/);
    const stored = await drizzle(c.env.DB).select().from(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, u.id)).all();
    expect(stored).toHaveLength(10);
    for (const r of stored) expect(recovery_codes).not.toContain(r.codeHash);

    const again = await c.request('POST', '/auth/mfa/totp/setup', { token: u.access_token });
    expect(again.status).toBe(409);
    const status = await c.request('GET', '/auth/mfa', { token: u.access_token });
    expect(await status.json()).toMatchObject({ totp: 'enabled', methods: ['totp', 'recovery_code'], recovery_codes_left: 10 });
  });

  it('needs a recent sign-in: an old session gets the RFC 9470 challenge; the password unlocks it', async () => {
    const c = new Client(testEnv());
    const u = await c.signedUp();
    c.clock.advance(301);
    const res = await c.request('POST', '/auth/mfa/totp/setup', { token: u.access_token });
    expect(res.status).toBe(401);
    expect((await errorOf(res)).error).toBe('insufficient_user_authentication');
    expect(res.headers.get('WWW-Authenticate')).toContain('max_age=300');
    const wrongPassword = await c.request('POST', '/auth/mfa/totp/setup', { token: u.access_token, json: { password: 'not the password' } });
    expect(wrongPassword.status).toBe(401);
    const withPassword = await c.request('POST', '/auth/mfa/totp/setup', { token: u.access_token, json: { password: u.password } });
    expect(withPassword.status).toBe(200);
  });

  it('malformed codes are a 400; confirming with nothing pending a 409', async () => {
    const c = new Client(testEnv());
    const u = await c.signedUp();
    for (const body of [{ code: '12345' }, { code: 123456 }, { code: '123456', extra: 1 }, {}]) {
      const res = await c.request('POST', '/auth/mfa/totp/confirm', { token: u.access_token, json: body });
      expect(res.status).toBe(400);
    }
    const nothingPending = await c.request('POST', '/auth/mfa/totp/confirm', { token: u.access_token, json: { code: '123456' } });
    expect(nothingPending.status).toBe(409);
  });
});

describe('TOTP codes: single use', () => {
  it('a code accepted once is refused when replayed in its window', async () => {
    const c = new Client(testEnv());
    const u = await enrolled(c);
    const code = await codeAt(u.secret, c.clock.seconds);
    const first = await passwordStep(c, u.username);
    expect((await verify(c, { mfa_token: first.mfa_token, code })).status).toBe(200);
    const second = await passwordStep(c, u.username);
    const replay = await verify(c, { mfa_token: second.mfa_token, code });
    expect(replay.status).toBe(401);
    expect((await errorOf(replay)).error).toBe('invalid_credentials');
    // The next step's code works.
    c.clock.advance(30);
    expect((await verify(c, { mfa_token: second.mfa_token, code: await codeAt(u.secret, c.clock.seconds) })).status).toBe(200);
  });

  it('two requests racing with the same code: exactly one wins', async () => {
    const c = new Client(testEnv());
    const u = await enrolled(c);
    const code = await codeAt(u.secret, c.clock.seconds);
    const [a, b] = [await passwordStep(c, u.username), await passwordStep(c, u.username)];
    const results = await Promise.all([verify(c, { mfa_token: a.mfa_token, code }), verify(c, { mfa_token: b.mfa_token, code })]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
  });
});

describe('recovery codes', () => {
  it('each works once, in any case or spacing; used ones are refused', async () => {
    const c = new Client(testEnv());
    const u = await enrolled(c);
    const code = u.recoveryCodes[0]!;
    const first = await passwordStep(c, u.username);
    expect((await verify(c, { mfa_token: first.mfa_token, recovery_code: ` ${code.toUpperCase().replace(/-/g, ' ')} ` })).status).toBe(200);
    const second = await passwordStep(c, u.username);
    expect((await verify(c, { mfa_token: second.mfa_token, recovery_code: code })).status).toBe(401);
    expect((await verify(c, { mfa_token: second.mfa_token, recovery_code: u.recoveryCodes[1]! })).status).toBe(200);
    const status = await c.request('GET', '/auth/mfa', { token: u.access_token });
    expect(((await status.json()) as { recovery_codes_left: number }).recovery_codes_left).toBe(8);
  });

  it('regenerating replaces every old code', async () => {
    const c = new Client(testEnv());
    const u = await enrolled(c);
    const res = await c.request('POST', '/auth/mfa/recovery-codes', { token: u.access_token });
    expect(res.status).toBe(200);
    const { recovery_codes } = (await res.json()) as { recovery_codes: string[] };
    expect(recovery_codes).toHaveLength(10);
    const pending = await passwordStep(c, u.username);
    expect((await verify(c, { mfa_token: pending.mfa_token, recovery_code: u.recoveryCodes[0]! })).status).toBe(401);
    expect((await verify(c, { mfa_token: pending.mfa_token, recovery_code: recovery_codes[0]! })).status).toBe(200);
  });
});

describe('disabling TOTP', () => {
  it('needs a current code or a recovery code; afterwards the password alone signs in', async () => {
    const c = new Client(testEnv());
    const u = await enrolled(c);
    const none = await c.request('POST', '/auth/mfa/totp/disable', { token: u.access_token, json: {} });
    expect(none.status).toBe(400);
    const wrong = await c.request('POST', '/auth/mfa/totp/disable', { token: u.access_token, json: { recovery_code: 'aaaa-aaaa-aaaa-aaaa' } });
    expect(wrong.status).toBe(401);
    const ok = await c.request('POST', '/auth/mfa/totp/disable', { token: u.access_token, json: { code: await codeAt(u.secret, c.clock.seconds) } });
    expect(ok.status).toBe(204);
    expect((await c.login(u.username, u.password)).access_token).toBeTruthy();
    expect(await drizzle(c.env.DB).select().from(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, u.id)).all()).toEqual([]);
    const events = await drizzle(c.env.DB).select().from(auditLog).where(eq(auditLog.subjectId, u.id)).all();
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['mfa_totp_setup', 'mfa_totp_enable', 'mfa_verify', 'mfa_totp_disable']));
  });

  it('with a recovery code', async () => {
    const c = new Client(testEnv());
    const u = await enrolled(c);
    const ok = await c.request('POST', '/auth/mfa/totp/disable', { token: u.access_token, json: { recovery_code: u.recoveryCodes[3]! } });
    expect(ok.status).toBe(204);
  });
});
