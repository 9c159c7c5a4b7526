// ECDSA signature malleability (P-256, JWS ES256 = r || s, 32 bytes each, RFC 7518 section 3.4).
// For any valid (r, s), (r, n - s) verifies too, so one token would have two valid strings.
// edge-auth revokes by session and `jti`, never by token string, so a twin would grant nothing;
// still, anything downstream that dedupes or blocklists by token string would be fooled. Issued
// tokens are therefore normalised to the low half (s <= n/2, as Bitcoin's BIP 62 does) and
// verification refuses the high half: every token has exactly one valid encoding.
import { b64url, fromB64url } from './encoding';

/** The order n of the P-256 group. */
const N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const HALF_N = N >> 1n;
const SCALAR_BYTES = 32;

function toBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

function toBytes(value: bigint): Uint8Array {
  const out = new Uint8Array(SCALAR_BYTES);
  for (let i = SCALAR_BYTES - 1; i >= 0; i--) {
    out[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return out;
}

const HALF_N_BYTES = toBytes(HALF_N);

/**
 * Whether a raw ES256 signature (r || s) is in the high half; malformed input counts as high.
 * A byte-wise comparison (big-endian), cheaper than BigInt arithmetic on every verification.
 */
export function isHighS(signature: Uint8Array): boolean {
  if (signature.length !== 2 * SCALAR_BYTES) return true;
  for (let i = 0; i < SCALAR_BYTES; i++) {
    const a = signature[SCALAR_BYTES + i]!;
    const b = HALF_N_BYTES[i]!;
    if (a !== b) return a > b;
  }
  return false;
}

/** The compact JWS with its ES256 signature moved to the low half (unchanged if already there). */
export function withLowS(compactJws: string): string {
  const dot = compactJws.lastIndexOf('.');
  const signature = fromB64url(compactJws.slice(dot + 1));
  if (!isHighS(signature)) return compactJws;
  const low = new Uint8Array(signature);
  low.set(toBytes(N - toBigInt(signature.subarray(SCALAR_BYTES))), SCALAR_BYTES);
  return `${compactJws.slice(0, dot)}.${b64url(low)}`;
}

/** The signature segment of a compact JWS, decoded; undefined when it is not base64url. */
export function signatureOf(compactJws: string): Uint8Array | undefined {
  try {
    return fromB64url(compactJws.slice(compactJws.lastIndexOf('.') + 1));
  } catch {
    return undefined;
  }
}
