// A minimal CBOR decoder (RFC 8949) for the WebAuthn structures we read: the attestation object
// and COSE public keys. Definite lengths only (WebAuthn's CTAP2 canonical encoding uses no
// others), bounded depth and sizes; anything else throws CborError, which callers turn into a 4xx.

export class CborError extends Error {}

export type CborValue = number | bigint | string | boolean | null | undefined | Uint8Array | CborValue[] | Map<CborValue, CborValue>;

const MAX_DEPTH = 8;
const MAX_ITEMS = 256;

/** Decodes one item at `offset`; returns it and the offset after it (COSE keys are followed by extensions). */
export function decodeCbor(bytes: Uint8Array, offset = 0, depth = 0): { value: CborValue; end: number } {
  if (depth > MAX_DEPTH) throw new CborError('CBOR nested too deeply');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = offset;
  const need = (n: number) => {
    if (at + n > bytes.length) throw new CborError('CBOR truncated');
  };
  need(1);
  const initial = bytes[at++]!;
  const major = initial >> 5;
  const info = initial & 31;
  let length: number;
  if (info < 24) length = info;
  else if (info === 24) {
    need(1);
    length = bytes[at]!;
    at += 1;
  } else if (info === 25) {
    need(2);
    length = view.getUint16(at);
    at += 2;
  } else if (info === 26) {
    need(4);
    length = view.getUint32(at);
    at += 4;
  } else if (info === 27) {
    need(8);
    const big = view.getBigUint64(at);
    at += 8;
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new CborError('CBOR integer too large');
    length = Number(big);
  } else throw new CborError('CBOR indefinite lengths are not supported');

  switch (major) {
    case 0:
      return { value: length, end: at };
    case 1:
      return { value: -1 - length, end: at };
    case 2:
      need(length);
      return { value: bytes.slice(at, at + length), end: at + length };
    case 3:
      need(length);
      return { value: new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes.subarray(at, at + length)), end: at + length };
    case 4: {
      if (length > MAX_ITEMS) throw new CborError('CBOR array too long');
      const items: CborValue[] = [];
      for (let i = 0; i < length; i++) {
        const item = decodeCbor(bytes, at, depth + 1);
        items.push(item.value);
        at = item.end;
      }
      return { value: items, end: at };
    }
    case 5: {
      if (length > MAX_ITEMS) throw new CborError('CBOR map too long');
      const map = new Map<CborValue, CborValue>();
      for (let i = 0; i < length; i++) {
        const key = decodeCbor(bytes, at, depth + 1);
        const value = decodeCbor(bytes, key.end, depth + 1);
        map.set(key.value, value.value);
        at = value.end;
      }
      return { value: map, end: at };
    }
    case 7:
      if (info === 20) return { value: false, end: at };
      if (info === 21) return { value: true, end: at };
      if (info === 22) return { value: null, end: at };
      if (info === 23) return { value: undefined, end: at };
      throw new CborError('CBOR floats and simple values are not supported');
    default:
      throw new CborError('CBOR tags are not supported');
  }
}
