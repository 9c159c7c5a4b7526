// WebAuthn ceremonies (https://www.w3.org/TR/webauthn-3/): options out (the JSON shape of
// PublicKeyCredentialCreationOptions / RequestOptions), responses verified by webauthn-verify.ts
// against the configured RP ID and origins. Passkeys only: resident keys and user verification
// are required, so one passkey is possession plus a PIN or biometric, and a sign-in with it alone
// needs no username. Attestation is not requested ("none"): we trust the
// user's choice of authenticator, as is usual for consumer services.
// Challenges are single use (challenges.ts): the one in the response's clientDataJSON is consumed
// by a conditional D1 write before the response is verified against it.
import type { Config } from '../config';
import { randomToken } from '../crypto/random';
import { b64url, fromB64url, utf8 } from '../crypto/encoding';
import { AppError } from '../errors';
import { verifyAssertionSignature, verifyRegistration, WebauthnError, SUPPORTED_ALGS, type AssertionInput, type RegistrationInput } from './webauthn-verify';
import { consumeChallenge, storeChallenge, WEBAUTHN_CHALLENGE_TTL, type ChallengeKind } from './challenges';
import { findPasskey, insertPasskey, listPasskeys, MAX_PASSKEYS_PER_USER, notePasskeyUse } from './passkeys';
import type { WebauthnCredentialRow } from './schema';

export interface RegistrationResponseJSON {
  id: string;
  response: RegistrationInput & { transports?: string[] | undefined };
}
export interface AuthenticationResponseJSON {
  id: string;
  response: AssertionInput & { userHandle?: string | undefined };
}

/** 32 random bytes, base64url: WebAuthn section 13.4.3 asks for at least 16. */
function newChallenge(): string {
  return randomToken(32);
}

/** RFC 8176: a key in hardware that cannot leave it (hwk), or one synced between devices (swk). */
export type PasskeyAmr = 'hwk' | 'swk';

function refused(message = 'The passkey could not be verified.'): AppError {
  return new AppError('invalid_credentials', message);
}

/** The challenge a response answers, read from its clientDataJSON; 400 when it is not one. */
function challengeOf(response: { response: { clientDataJSON: string } }): string {
  try {
    const client: unknown = JSON.parse(new TextDecoder().decode(fromB64url(response.response.clientDataJSON)));
    const challenge = (client as { challenge?: unknown }).challenge;
    if (typeof challenge === 'string' && /^[A-Za-z0-9_-]{16,128}$/.test(challenge)) return challenge;
  } catch {
    // fall through: not base64url JSON
  }
  throw new AppError('invalid_request', 'The WebAuthn response carries no readable clientDataJSON challenge.');
}

/** Consumes the response's challenge of `kind`; for a user's ceremony it must be that user's. */
async function takeChallenge(db: D1Database, response: { response: { clientDataJSON: string } }, kind: ChallengeKind, userId: string | null, now: number): Promise<string> {
  const challenge = challengeOf(response);
  const record = await consumeChallenge(db, challenge, kind, now);
  if (!record || record.userId !== userId) throw refused('The WebAuthn challenge is unknown, expired or already used; start again.');
  return challenge;
}

export async function registrationOptions(
  db: D1Database,
  config: Config,
  user: { id: string; username: string },
  now: number,
): Promise<Record<string, unknown> & { challenge: string }> {
  const existing = await listPasskeys(db, user.id);
  if (existing.length >= MAX_PASSKEYS_PER_USER) throw new AppError('conflict', `An account can have at most ${MAX_PASSKEYS_PER_USER} passkeys.`);
  const options = {
    challenge: newChallenge(),
    rp: { id: config.webauthn.rpId, name: config.webauthn.rpName },
    // The user handle: our opaque user id (no personal data), returned by discoverable sign-ins.
    user: { id: b64url(utf8(user.id)), name: user.username, displayName: user.username },
    pubKeyCredParams: SUPPORTED_ALGS.map((alg) => ({ type: 'public-key' as const, alg })),
    timeout: WEBAUTHN_CHALLENGE_TTL * 1000,
    attestation: 'none' as const,
    excludeCredentials: existing.map((c) => ({ type: 'public-key' as const, id: c.id, transports: parseTransports(c.transports) })),
    authenticatorSelection: { residentKey: 'required' as const, requireResidentKey: true, userVerification: 'required' as const },
    extensions: { credProps: true },
  };
  await storeChallenge(db, options.challenge, 'webauthn_register', user.id, WEBAUTHN_CHALLENGE_TTL, now);
  return options;
}

export async function finishRegistration(db: D1Database, config: Config, userId: string, response: RegistrationResponseJSON, name: string, now: number): Promise<WebauthnCredentialRow> {
  const expectedChallenge = await takeChallenge(db, response, 'webauthn_register', userId, now);
  let verified;
  try {
    verified = await verifyRegistration(response.response, response.id, {
      challenge: expectedChallenge,
      origins: config.webauthn.origins,
      rpId: config.webauthn.rpId,
    });
  } catch (err) {
    throw refused(`The passkey could not be registered: ${reasonOf(err)}`);
  }
  const row = {
    id: verified.id,
    userId,
    name,
    publicKey: b64url(verified.publicKey),
    counter: verified.counter,
    transports: JSON.stringify(response.response.transports ?? []),
    deviceType: verified.deviceType,
    backedUp: verified.backedUp,
    createdAt: now,
  };
  if (!(await insertPasskey(db, row))) throw new AppError('conflict', `This passkey is already registered, or the account has ${MAX_PASSKEYS_PER_USER} passkeys.`);
  return { ...row, lastUsedAt: null };
}

/**
 * Options for an assertion: for a second factor (`userId` set) listing that user's passkeys; for a
 * passkey sign-in (`userId` null) listing none, so the browser offers its discoverable credentials.
 */
export async function authenticationOptions(db: D1Database, config: Config, userId: string | null, now: number): Promise<Record<string, unknown> & { challenge: string }> {
  const allow = userId ? (await listPasskeys(db, userId)).map((c) => ({ type: 'public-key' as const, id: c.id, transports: parseTransports(c.transports) })) : [];
  if (userId && allow.length === 0) throw new AppError('invalid_request', 'This account has no passkey.');
  const options = { challenge: newChallenge(), rpId: config.webauthn.rpId, allowCredentials: allow, userVerification: 'required' as const, timeout: WEBAUTHN_CHALLENGE_TTL * 1000 };
  await storeChallenge(db, options.challenge, userId ? 'webauthn_mfa' : 'webauthn_login', userId, WEBAUTHN_CHALLENGE_TTL, now);
  return options;
}

/**
 * Verifies an assertion; for a second factor it must come from a passkey of `userId`. Returns the
 * credential's owner and its amr. Every failure is 401 invalid_credentials (or 400 for a response
 * that is not one), never a 5xx: the library's exceptions are caught and reduced to their reason.
 */
export async function verifyAssertion(
  db: D1Database,
  config: Config,
  response: AuthenticationResponseJSON,
  userId: string | null,
  now: number,
): Promise<{ userId: string; credentialId: string; amr: PasskeyAmr }> {
  const expectedChallenge = await takeChallenge(db, response, userId ? 'webauthn_mfa' : 'webauthn_login', userId, now);
  const stored = await findPasskey(db, response.id);
  if (!stored || (userId !== null && stored.userId !== userId)) throw refused('This passkey is not registered here.');
  // A discoverable sign-in names its account by the user handle: it must be the credential's owner.
  const handle = response.response.userHandle;
  if (handle !== undefined && handle !== '' && handle !== b64url(utf8(stored.userId))) throw refused();
  let verified;
  try {
    verified = await verifyAssertionSignature(
      response.response,
      { publicKey: fromB64url(stored.publicKey), counter: stored.counter },
      { challenge: expectedChallenge, origins: config.webauthn.origins, rpId: config.webauthn.rpId },
    );
  } catch (err) {
    throw refused(`The passkey could not be verified: ${reasonOf(err)}`);
  }
  if (!(await notePasskeyUse(db, stored.id, stored.counter, verified.newCounter, verified.backedUp, now))) {
    throw refused('The passkey signature counter did not advance (a cloned authenticator, or a replay).');
  }
  return { userId: stored.userId, credentialId: stored.id, amr: stored.deviceType === 'singleDevice' ? 'hwk' : 'swk' };
}

function parseTransports(stored: string): string[] {
  try {
    const value: unknown = JSON.parse(stored);
    return Array.isArray(value) ? value.filter((t): t is string => typeof t === 'string') : [];
  } catch {
    return [];
  }
}

/** Which check failed (origin, RP ID, UV flag, signature): safe and useful to return; nothing else is. */
function reasonOf(err: unknown): string {
  return err instanceof WebauthnError ? err.message : 'the response is malformed';
}
