// A software WebAuthn authenticator for workerd tests: ES256 keys from WebCrypto, "none"
// attestation, CBOR written by hand (only the few shapes WebAuthn needs). It lets the tests drive
// the server through real registration and assertion bytes; the browser e2e (e2e/mfa.mjs) does
// the same with Chromium's virtual authenticator.
import { b64url, utf8 } from '../src/crypto/encoding';

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// CBOR (RFC 8949): unsigned/negative integers, byte and text strings, maps.
function head(major: number, n: number): Uint8Array {
  if (n < 24) return new Uint8Array([(major << 5) | n]);
  if (n < 256) return new Uint8Array([(major << 5) | 24, n]);
  return new Uint8Array([(major << 5) | 25, n >> 8, n & 255]);
}
type Cbor = number | string | Uint8Array | Map<Cbor, Cbor>;
function cbor(value: Cbor): Uint8Array {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') return concat(head(3, utf8(value).length), utf8(value));
  if (value instanceof Uint8Array) return concat(head(2, value.length), value);
  return concat(head(5, value.size), ...[...value].flatMap(([k, v]) => [cbor(k), cbor(v)]));
}

/** ECDSA raw r||s (WebCrypto) to the DER SEQUENCE WebAuthn signatures use. */
function der(raw: Uint8Array): Uint8Array {
  const int = (b: Uint8Array) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    const v = b.slice(i);
    const body = v[0]! & 0x80 ? concat(new Uint8Array([0]), v) : v;
    return concat(new Uint8Array([2, body.length]), body);
  };
  const seq = concat(int(raw.slice(0, 32)), int(raw.slice(32)));
  return concat(new Uint8Array([0x30, seq.length]), seq);
}

async function sha256(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data));
}

export interface SoftCredential {
  id: Uint8Array<ArrayBuffer>;
  keys: CryptoKeyPair;
  rpId: string;
  userHandle: string;
  counter: number;
}

export interface CeremonyOptions {
  origin?: string;
  rpId?: string;
  /** Clear the user-verified flag (an authenticator that only tested presence). */
  noUv?: boolean;
  /** Multi-device (synced) credential: backup-eligible and backed-up flags set. */
  synced?: boolean;
}

function flags(o: CeremonyOptions, attested: boolean): number {
  return 0x01 | (o.noUv ? 0 : 0x04) | (o.synced ? 0x08 | 0x10 : 0) | (attested ? 0x40 : 0);
}

function clientData(type: string, challenge: string, origin: string): Uint8Array<ArrayBuffer> {
  return utf8(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
}

/** navigator.credentials.create(): a new resident credential for the options' user. */
export async function createCredential(options: { challenge: string; rp: { id?: string }; user: { id: string } }, o: CeremonyOptions = {}) {
  const rpId = o.rpId ?? options.rp.id!;
  const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const jwk = (await crypto.subtle.exportKey('jwk', keys.publicKey)) as JsonWebKey;
  const x = Uint8Array.from(atob(jwk.x!.replace(/-/g, '+').replace(/_/g, '/')), (ch) => ch.charCodeAt(0));
  const y = Uint8Array.from(atob(jwk.y!.replace(/-/g, '+').replace(/_/g, '/')), (ch) => ch.charCodeAt(0));
  const cose = cbor(new Map<Cbor, Cbor>([[1, 2], [3, -7], [-1, 1], [-2, x], [-3, y]]));
  const id = crypto.getRandomValues(new Uint8Array(16));
  const authData = concat(await sha256(utf8(rpId)), new Uint8Array([flags(o, true)]), new Uint8Array(4), new Uint8Array(16), new Uint8Array([0, id.length]), id, cose);
  const attestationObject = cbor(new Map<Cbor, Cbor>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]));
  const credential: SoftCredential = { id, keys, rpId, userHandle: options.user.id, counter: 0 };
  const response = {
    id: b64url(id),
    rawId: b64url(id),
    type: 'public-key',
    clientExtensionResults: {},
    response: {
      clientDataJSON: b64url(clientData('webauthn.create', options.challenge, o.origin ?? 'http://localhost:8787')),
      attestationObject: b64url(attestationObject),
      transports: ['internal'],
    },
  };
  return { credential, response };
}

/** navigator.credentials.get(): an assertion of `credential` over the options' challenge. */
export async function getAssertion(credential: SoftCredential, options: { challenge: string }, o: CeremonyOptions & { counter?: number } = {}) {
  credential.counter = o.counter ?? credential.counter;
  const count = new Uint8Array(4);
  new DataView(count.buffer).setUint32(0, credential.counter);
  const authData = concat(await sha256(utf8(o.rpId ?? credential.rpId)), new Uint8Array([flags(o, false)]), count);
  const data = clientData('webauthn.get', options.challenge, o.origin ?? 'http://localhost:8787');
  const signed = concat(authData, await sha256(data));
  const raw = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, credential.keys.privateKey, signed));
  return {
    id: b64url(credential.id),
    rawId: b64url(credential.id),
    type: 'public-key',
    clientExtensionResults: {},
    response: {
      clientDataJSON: b64url(data),
      authenticatorData: b64url(authData),
      signature: b64url(der(raw)),
      userHandle: credential.userHandle,
    },
  };
}
