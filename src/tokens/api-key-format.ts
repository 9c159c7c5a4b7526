// The shape of a personal API key: `eak_` + 43 base62 characters of CSPRNG output (256 bits) + 6
// base62 characters of CRC32 over them. The fixed prefix lets secret scanners (GitHub's, for
// one) recognise a leaked key; the checksum refuses a mistyped or made-up key before any
// storage lookup and lets a scanner tell a real key from look-alike noise, as GitHub's token
// format does. The checksum is no secret and no authentication: only the stored hash is.

export const API_KEY_PREFIX = 'eak_';
const RANDOM_CHARS = 43; // 43 * log2(62) = 256.03 bits
const CHECKSUM_CHARS = 6; // 62^6 > 2^32
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const API_KEY_PATTERN = new RegExp(`^${API_KEY_PREFIX}[0-9A-Za-z]{${RANDOM_CHARS + CHECKSUM_CHARS}}$`);
/** How much of a key a list shows: the prefix and 6 random characters (about 36 bits, not enough to guess). */
export const DISPLAY_PREFIX_LENGTH = API_KEY_PREFIX.length + 6;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function base62Fixed(value: number, width: number): string {
  let out = '';
  for (let i = 0; i < width; i++) {
    out = ALPHABET[value % 62]! + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** Uniform base62 characters by rejection sampling (248 = 4 * 62: no modulo bias). */
function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length * 2))) {
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62];
    }
  }
  return out;
}

export function generateApiKey(): string {
  const random = randomBase62(RANDOM_CHARS);
  return `${API_KEY_PREFIX}${random}${base62Fixed(crc32(random), CHECKSUM_CHARS)}`;
}

/** Whether `value` has the shape and a correct checksum: the only check made before a lookup. */
export function isWellFormedApiKey(value: string): boolean {
  if (!API_KEY_PATTERN.test(value)) return false;
  const random = value.slice(API_KEY_PREFIX.length, API_KEY_PREFIX.length + RANDOM_CHARS);
  return base62Fixed(crc32(random), CHECKSUM_CHARS) === value.slice(-CHECKSUM_CHARS);
}

/** Whether a presented bearer value is meant as an API key (so a JWT is never looked up as one). */
export function looksLikeApiKey(value: string): boolean {
  return value.startsWith(API_KEY_PREFIX);
}
