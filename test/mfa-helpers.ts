// Helpers of the second-factor tests: enrol TOTP through the API, compute codes as an
// authenticator app would (from the secret the setup returned), decode access-token claims.
import { decodeJwt } from 'jose';
import { base32Decode, totp } from '../src/mfa/otp';
import { Client, type TokenBody } from './helpers';

export const PASSWORD = 'correct horse battery';

export interface Enrolled extends TokenBody {
  username: string;
  password: string;
  id: string;
  secret: string;
  recoveryCodes: string[];
}

export function codeAt(secret: string, seconds: number): Promise<string> {
  return totp(base32Decode(secret), seconds);
}

/** A signed-up user with TOTP enabled (setup, then confirm with the current code). */
export async function enrolled(c: Client): Promise<Enrolled> {
  const u = await c.signedUp();
  const setup = await c.request('POST', '/auth/mfa/totp/setup', { token: u.access_token });
  if (setup.status !== 200) throw new Error(`setup: ${setup.status} ${await setup.text()}`);
  const { secret } = (await setup.json()) as { secret: string };
  const confirm = await c.request('POST', '/auth/mfa/totp/confirm', { token: u.access_token, json: { code: await codeAt(secret, c.clock.seconds) } });
  if (confirm.status !== 200) throw new Error(`confirm: ${confirm.status} ${await confirm.text()}`);
  const { recovery_codes } = (await confirm.json()) as { recovery_codes: string[] };
  // Later codes must come from a later time step: the confirmation used this one.
  c.clock.advance(30);
  return { ...u, secret, recoveryCodes: recovery_codes };
}

export interface MfaPendingBody {
  mfa_required: true;
  mfa_token: string;
  methods: string[];
  expires_in: number;
}

export async function passwordStep(c: Client, username: string, password = PASSWORD): Promise<MfaPendingBody> {
  const res = await c.request('POST', '/auth/login', { json: { username, password } });
  if (res.status !== 200) throw new Error(`login: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as MfaPendingBody;
  if (!body.mfa_required) throw new Error('login: expected mfa_required');
  return body;
}

export function verify(c: Client, json: Record<string, unknown>, headers?: Record<string, string>): Promise<Response> {
  return c.request('POST', '/auth/mfa/verify', { json, headers });
}

export function claimsOf(token: string): { amr?: string[]; auth_time?: number; iat: number } {
  return decodeJwt(token) as { amr?: string[]; auth_time?: number; iat: number };
}
