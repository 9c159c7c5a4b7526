// WebAuthn response verification (https://www.w3.org/TR/webauthn-3/ sections 7.1 and 7.2) on
// WebCrypto. Written here rather than bundling @simplewebauthn/server: the library brings ASN.1 and
// X.509 stacks for attestation formats we do not request (~90 KiB gzip, a third of the Worker's
// budget). We request attestation "none", so the attestation statement is not evaluated (every
// authenticator is trusted as self-asserted, as with "none"); everything else is checked: the
// ceremony type, challenge, origin, RP ID hash, user presence and verification, credential id,
// COSE key, signature and counter. test/mfa-passkeys.test.ts cross-checks this module against
// @simplewebauthn/server on the same responses.
import { fromB64url } from '../crypto/encoding';
import { timingSafeEqual } from '../crypto/digest';
import { CborError, decodeCbor, type CborValue } from './cbor';

/** COSE algorithms offered in pubKeyCredParams, most preferred first (RFC 9053, RFC 8812). */
export const SUPPORTED_ALGS = [-7, -8, -257] as const;

export class WebauthnError extends Error {}

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

export interface AuthData {
  rpIdHash: Uint8Array;
  flags: number;
  counter: number;
  credential?: { id: Uint8Array; publicKey: Uint8Array };
}

function bytes(b64: string, what: string): Uint8Array<ArrayBuffer> {
  try {
    return fromB64url(b64);
  } catch {
    throw new WebauthnError(`${what} is not base64url`);
  }
}

/** Section 6.1: rpIdHash(32) flags(1) signCount(4) [attestedCredentialData] [extensions]. */
export function parseAuthData(data: Uint8Array): AuthData {
  if (data.length < 37) throw new WebauthnError('authenticator data is too short');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const flags = data[32]!;
  const parsed: AuthData = { rpIdHash: data.slice(0, 32), flags, counter: view.getUint32(33) };
  if (flags & FLAG_AT) {
    if (data.length < 55) throw new WebauthnError('attested credential data is truncated');
    const idLength = view.getUint16(53);
    const idEnd = 55 + idLength;
    if (idLength === 0 || idLength > 1023 || idEnd > data.length) throw new WebauthnError('credential id length is invalid');
    const key = decodeCbor(data, idEnd);
    parsed.credential = { id: data.slice(55, idEnd), publicKey: data.slice(idEnd, key.end) };
  }
  return parsed;
}

interface ClientData {
  type: string;
  challenge: string;
  origin: string;
  crossOrigin?: boolean;
}

/** Section 7.1 steps 5-10 / 7.2 steps 8-13: the client data says the right ceremony, challenge and origin. */
function checkClientData(clientDataJSON: Uint8Array, type: string, expected: { challenge: string; origins: readonly string[] }): void {
  let client: ClientData;
  try {
    client = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(clientDataJSON)) as ClientData;
  } catch {
    throw new WebauthnError('clientDataJSON is not JSON');
  }
  if (client.type !== type) throw new WebauthnError(`clientData type is not ${type}`);
  if (client.challenge !== expected.challenge) throw new WebauthnError('the challenge does not match');
  if (!expected.origins.includes(client.origin)) throw new WebauthnError('the origin is not allowed');
  if (client.crossOrigin === true) throw new WebauthnError('cross-origin ceremonies are not allowed');
}

async function checkAuthData(auth: AuthData, rpId: string): Promise<void> {
  const expected = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(rpId)));
  if (!timingSafeEqual(auth.rpIdHash, expected)) throw new WebauthnError('the RP ID does not match');
  if (!(auth.flags & FLAG_UP)) throw new WebauthnError('user presence was not tested');
  if (!(auth.flags & FLAG_UV)) throw new WebauthnError('user verification is required');
  // Section 6.1: BS may only be set when BE is.
  if (auth.flags & FLAG_BS && !(auth.flags & FLAG_BE)) throw new WebauthnError('invalid backup flags');
}

type KeyImport = { key: CryptoKey; verify: Parameters<SubtleCrypto['verify']>[0]; ecdsa: boolean };

/** A COSE_Key (RFC 9052 section 7) as a WebCrypto verification key. */
export async function importCoseKey(cose: Uint8Array): Promise<KeyImport> {
  let map: CborValue;
  try {
    map = decodeCbor(cose).value;
  } catch (err) {
    throw new WebauthnError(err instanceof CborError ? err.message : 'invalid COSE key');
  }
  if (!(map instanceof Map)) throw new WebauthnError('the COSE key is not a map');
  const kty = map.get(1);
  const alg = map.get(3);
  const b = (label: number) => {
    const v = map.get(label);
    if (!(v instanceof Uint8Array)) throw new WebauthnError('the COSE key is incomplete');
    return toB64url(v);
  };
  try {
    if (kty === 2 && alg === -7 && map.get(-1) === 1) {
      const key = await crypto.subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: b(-2), y: b(-3) }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
      return { key, verify: { name: 'ECDSA', hash: 'SHA-256' }, ecdsa: true };
    }
    if (kty === 1 && alg === -8 && map.get(-1) === 6) {
      const key = await crypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x: b(-2) }, { name: 'Ed25519' }, false, ['verify']);
      return { key, verify: { name: 'Ed25519' }, ecdsa: false };
    }
    if (kty === 3 && alg === -257) {
      const key = await crypto.subtle.importKey('jwk', { kty: 'RSA', n: b(-1), e: b(-2) }, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify']);
      return { key, verify: { name: 'RSASSA-PKCS1-v1_5' }, ecdsa: false };
    }
  } catch (err) {
    if (err instanceof WebauthnError) throw err;
    throw new WebauthnError('the public key cannot be imported');
  }
  throw new WebauthnError('unsupported public key algorithm (ES256, EdDSA and RS256 are)');
}

function toB64url(data: Uint8Array): string {
  let binary = '';
  for (const byte of data) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** ECDSA signatures arrive DER-encoded (WebAuthn section 6.5.5); WebCrypto wants r||s. */
function derToRaw(der: Uint8Array): Uint8Array<ArrayBuffer> {
  let at = 0;
  const read = () => {
    if (at >= der.length) throw new WebauthnError('the signature is malformed');
    return der[at++]!;
  };
  if (read() !== 0x30) throw new WebauthnError('the signature is malformed');
  const total = read();
  if (total !== der.length - 2) throw new WebauthnError('the signature is malformed');
  const out = new Uint8Array(64);
  for (const offset of [0, 32]) {
    if (read() !== 0x02) throw new WebauthnError('the signature is malformed');
    const length = read();
    if (length === 0 || length > 33 || at + length > der.length) throw new WebauthnError('the signature is malformed');
    let int = der.subarray(at, at + length);
    at += length;
    while (int.length > 32 && int[0] === 0) int = int.subarray(1);
    if (int.length > 32) throw new WebauthnError('the signature is malformed');
    out.set(int, offset + 32 - int.length);
  }
  return out;
}

export interface RegistrationInput {
  clientDataJSON: string;
  attestationObject: string;
}

/** Section 7.1: a new credential; returns its id, COSE public key, counter and backup state. */
export async function verifyRegistration(response: RegistrationInput, credentialId: string, expected: { challenge: string; origins: readonly string[]; rpId: string }) {
  checkClientData(bytes(response.clientDataJSON, 'clientDataJSON'), 'webauthn.create', expected);
  let attestation: CborValue;
  try {
    attestation = decodeCbor(bytes(response.attestationObject, 'attestationObject')).value;
  } catch (err) {
    throw new WebauthnError(err instanceof CborError ? err.message : 'attestationObject is not CBOR');
  }
  const authDataBytes = attestation instanceof Map ? attestation.get('authData') : undefined;
  if (!(authDataBytes instanceof Uint8Array)) throw new WebauthnError('the attestation object has no authData');
  let auth: AuthData;
  try {
    auth = parseAuthData(authDataBytes);
  } catch (err) {
    throw err instanceof WebauthnError ? err : new WebauthnError('authenticator data is malformed');
  }
  await checkAuthData(auth, expected.rpId);
  if (!auth.credential) throw new WebauthnError('no credential was attested');
  if (toB64url(auth.credential.id) !== credentialId) throw new WebauthnError('the credential id does not match');
  await importCoseKey(auth.credential.publicKey); // refuse keys we could never verify with
  return {
    id: credentialId,
    publicKey: auth.credential.publicKey,
    counter: auth.counter,
    deviceType: auth.flags & FLAG_BE ? ('multiDevice' as const) : ('singleDevice' as const),
    backedUp: (auth.flags & FLAG_BS) !== 0,
  };
}

export interface AssertionInput {
  clientDataJSON: string;
  authenticatorData: string;
  signature: string;
}

/** Section 7.2: an assertion by a stored credential; returns the new counter and backup state. */
export async function verifyAssertionSignature(
  response: AssertionInput,
  stored: { publicKey: Uint8Array; counter: number },
  expected: { challenge: string; origins: readonly string[]; rpId: string },
) {
  const clientDataJSON = bytes(response.clientDataJSON, 'clientDataJSON');
  checkClientData(clientDataJSON, 'webauthn.get', expected);
  const authData = bytes(response.authenticatorData, 'authenticatorData');
  let auth: AuthData;
  try {
    auth = parseAuthData(authData);
  } catch (err) {
    throw err instanceof WebauthnError ? err : new WebauthnError('authenticator data is malformed');
  }
  await checkAuthData(auth, expected.rpId);
  const { key, verify, ecdsa } = await importCoseKey(stored.publicKey);
  const clientHash = new Uint8Array(await crypto.subtle.digest('SHA-256', clientDataJSON));
  const signed = new Uint8Array(authData.length + clientHash.length);
  signed.set(authData);
  signed.set(clientHash, authData.length);
  const raw = bytes(response.signature, 'signature');
  const signature = ecdsa ? derToRaw(raw) : raw;
  if (!(await crypto.subtle.verify(verify, key, signature, signed))) throw new WebauthnError('the signature is invalid');
  // Section 6.1.1: a counter that does not increase signals a clone, unless both are 0.
  if ((auth.counter > 0 || stored.counter > 0) && auth.counter <= stored.counter) throw new WebauthnError('the signature counter did not increase');
  return { newCounter: auth.counter, backedUp: (auth.flags & FLAG_BS) !== 0 };
}
