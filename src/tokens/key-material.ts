// Signing key material: generation, sealing for D1 and import for jose. Pure WebCrypto + jose, no
// Workers bindings, so scripts/keys-rotate.ts (Node, via tsx) produces rows the service can read:
// one format, one implementation.
import type { JwtAlg } from '../config';
import { decryptSecret, encryptSecret } from '../crypto/encrypt';
import { b64url, fromB64url, utf8 } from '../crypto/encoding';
import { sha256 } from '../crypto/digest';
import { randomToken } from '../crypto/random';

/** A new key as it is stored: the private half only ever as an AES-GCM envelope. */
export interface SealedKey {
  kid: string;
  alg: JwtAlg;
  /** Public JWK (JSON, with kid/alg/use) for ES256; null for HS256, which has no public half. */
  publicJwk: string | null;
  /** `v1.<iv>.<ciphertext>` (crypto/encrypt.ts), bound to the kid as associated data. */
  privateEnc: string;
}

/** What importKey needs from a stored row. */
export interface StoredKey {
  kid: string;
  alg: JwtAlg;
  publicJwk: string | null;
  privateEnc: string;
}

/** Generates a key for `alg` and seals its private half under the KEY_ENCRYPTION_KEY secret. */
export async function generateSealedKey(alg: JwtAlg, keyEncryptionKey: string): Promise<SealedKey> {
  let kid: string;
  let publicJwk: string | null;
  let privateMaterial: string;
  if (alg === 'ES256') {
    const { publicKey, privateKey } = (await crypto.subtle.generateKey(P256, true, ['sign', 'verify'])) as CryptoKeyPair;
    const pub = (await crypto.subtle.exportKey('jwk', publicKey)) as JsonWebKey;
    kid = await jwkThumbprint(pub); // RFC 7638: derived from the key, the same everywhere
    publicJwk = JSON.stringify({ kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y, kid, alg, use: 'sig' });
    const { kty, crv, x, y, d } = (await crypto.subtle.exportKey('jwk', privateKey)) as JsonWebKey;
    privateMaterial = JSON.stringify({ kty, crv, x, y, d });
  } else {
    kid = `hs-${randomToken(12)}`;
    publicJwk = null;
    privateMaterial = b64url(crypto.getRandomValues(new Uint8Array(32))); // RFC 7518 section 3.2: >= 256 bits
  }
  return { kid, alg, publicJwk, privateEnc: await encryptSecret(keyEncryptionKey, privateMaterial, kid) };
}

const P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/** RFC 7638 thumbprint of an EC public key: SHA-256 of its required members, in order, as base64url. */
export function jwkThumbprint(jwk: JsonWebKey): Promise<string> {
  return sha256(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }));
}

/** A P-256 key from its JWK, never extractable; `alg`, `use` and `kid` are ours, not WebCrypto's to check. */
function importEc(jwk: JsonWebKey & { kid?: string; use?: string }, usage: 'sign' | 'verify'): Promise<CryptoKey> {
  const { alg: _alg, use: _use, kid: _kid, key_ops: _ops, ext: _ext, ...material } = jwk;
  return crypto.subtle.importKey('jwk', material, P256, false, [usage]);
}

export function importHmac(raw: Uint8Array<ArrayBuffer>, usage: 'sign' | 'verify'): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, [usage]);
}

/**
 * Imports a stored key. An ES256 verify key comes from the public JWK alone (no decryption);
 * signing keys and HS256 secrets are decrypted, and a wrong KEY_ENCRYPTION_KEY fails here.
 */
export async function importKey(row: StoredKey, keyEncryptionKey: string, usage: 'sign' | 'verify'): Promise<CryptoKey> {
  if (row.alg === 'ES256') {
    if (usage === 'verify') {
      if (!row.publicJwk) throw new Error(`signing key ${row.kid} has no public JWK`);
      return importEc(JSON.parse(row.publicJwk) as JsonWebKey, 'verify');
    }
    return importEc(JSON.parse(await decryptSecret(keyEncryptionKey, row.privateEnc, row.kid)) as JsonWebKey, 'sign');
  }
  return importHmac(fromB64url(await decryptSecret(keyEncryptionKey, row.privateEnc, row.kid)), usage);
}

/** The kid of the JWT_SECRET key: derived, so every isolate and every deploy agree on it. */
export async function envSecretKid(secret: string): Promise<string> {
  return `env-${(await sha256(`edge-auth kid\u0000${secret}`)).slice(0, 16)}`;
}

/** The JWT_SECRET bytes as the HS256 key (used verbatim, as JWT libraries do with a shared secret). */
export function envSecretBytes(secret: string): Uint8Array<ArrayBuffer> {
  return utf8(secret);
}
