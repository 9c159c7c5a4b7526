// Envelope for secrets at rest in D1 (private signing keys): AES-256-GCM under a key derived
// with HKDF-SHA256 from the KEY_ENCRYPTION_KEY secret. The associated data binds a ciphertext to
// its row (the kid), so a ciphertext moved to another row fails to decrypt.
import { b64url, fromB64url, utf8 } from './encoding';

const VERSION = 'v1';
const kekCache = new Map<string, Promise<CryptoKey>>();

// Parameter types taken from SubtleCrypto itself: this module also runs in Node (the CLI scripts).
type DerivedAlgorithm = Parameters<SubtleCrypto['deriveKey']>[2];
type Usages = Parameters<SubtleCrypto['deriveKey']>[4];

async function deriveKey(secret: string, purpose: string, usages: Usages, algorithm: DerivedAlgorithm): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey('raw', utf8(secret), 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: utf8('edge-auth'), info: utf8(purpose) },
    base,
    algorithm,
    false,
    usages,
  );
}

function kek(secret: string): Promise<CryptoKey> {
  let key = kekCache.get(secret);
  if (!key) {
    key = deriveKey(secret, 'signing-key-encryption', ['encrypt', 'decrypt'], { name: 'AES-GCM', length: 256 });
    kekCache.set(secret, key);
  }
  return key;
}

/** HMAC-SHA256 key derived from a secret for one purpose (domain-separated by `purpose`). */
export function deriveHmacKey(secret: string, purpose: string): Promise<CryptoKey> {
  return deriveKey(secret, purpose, ['sign'], { name: 'HMAC', hash: 'SHA-256', length: 256 });
}

export async function encryptSecret(secret: string, plaintext: string, aad: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: utf8(aad) }, await kek(secret), utf8(plaintext));
  return `${VERSION}.${b64url(iv)}.${b64url(new Uint8Array(ct))}`;
}

export async function decryptSecret(secret: string, envelope: string, aad: string): Promise<string> {
  const [version, iv, ct] = envelope.split('.');
  if (version !== VERSION || !iv || !ct) throw new Error('unknown key envelope');
  const pt = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: fromB64url(iv), additionalData: utf8(aad) },
    await kek(secret),
    fromB64url(ct),
  );
  return new TextDecoder().decode(pt);
}
