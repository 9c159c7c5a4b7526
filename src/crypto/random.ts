import { b64url } from './encoding';

/** `bytes` of CSPRNG output as base64url: 32 bytes = 256 bits for refresh tokens. */
export function randomToken(bytes = 32): string {
  return b64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** Random identifiers for users, sessions and token ids (UUIDv4, 122 random bits). */
export function randomId(): string {
  return crypto.randomUUID();
}
