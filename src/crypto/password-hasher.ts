// Password hashing: argon2id (RFC 9106) with the OWASP minimum parameters, stored as PHC strings
// so parameters can rise later; hashes with other parameters are upgraded on the next login.
// The one implementation of the format and parameters. How the wasm is loaded is injected:
// workerd imports it as modules (password.ts), Node compiles it from the package's bytes
// (scripts/lib/node-password.ts, for `npm run user:create`), so both produce the same hashes.
import setupWasm from 'argon2id/lib/setup.js';
import { b64, fromB64, utf8 } from './encoding';
import { timingSafeEqual } from './digest';

export interface Argon2Params {
  m: number; // memory, KiB
  t: number; // passes
  p: number; // lanes
}

/** OWASP Password Storage Cheat Sheet minimum for argon2id. */
export const CURRENT_PARAMS: Argon2Params = { m: 19456, t: 2, p: 1 };
const SALT_BYTES = 16;
const TAG_BYTES = 32;
// Bounds on parameters read back from stored hashes, so a corrupt row cannot exhaust the isolate.
const MAX_M = 65536;
const MAX_T = 10;

type ComputeHash = (params: {
  password: Uint8Array; salt: Uint8Array; parallelism: number; passes: number; memorySize: number; tagLength: number;
}) => Uint8Array;

/** The two builds shipped by the argon2id package; the non-SIMD one is loaded only if SIMD fails. */
export interface Argon2Wasm {
  simd: () => Promise<WebAssembly.Module>;
  noSimd: () => Promise<WebAssembly.Module>;
}

export class PasswordHashError extends Error {
  constructor(cause?: unknown) {
    super('password hashing failed', { cause });
    this.name = 'PasswordHashError';
  }
}

/** Passwords are compared after NFKC normalisation, so the same text typed on two keyboards matches. */
function encodePassword(password: string): Uint8Array {
  return utf8(password.normalize('NFKC'));
}

async function compute(load: () => Promise<ComputeHash>, password: string, salt: Uint8Array, params: Argon2Params, tagLength: number): Promise<Uint8Array> {
  try {
    const hash = await load();
    return hash({
      password: encodePassword(password),
      salt,
      parallelism: params.p,
      passes: params.t,
      memorySize: params.m,
      tagLength,
    });
  } catch (err) {
    throw new PasswordHashError(err);
  }
}

interface ParsedHash {
  params: Argon2Params;
  salt: Uint8Array;
  tag: Uint8Array;
}

export function parsePhc(phc: string): ParsedHash | null {
  const match = /^\$argon2id\$v=19\$m=(\d{1,6}),t=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{11,64})\$([A-Za-z0-9+/]{22,128})$/.exec(phc);
  if (!match) return null;
  const params = { m: Number(match[1]), t: Number(match[2]), p: Number(match[3]) };
  if (params.m < 8 * params.p || params.m > MAX_M || params.t < 1 || params.t > MAX_T || params.p < 1) return null;
  try {
    return { params, salt: fromB64(match[4]!), tag: fromB64(match[5]!) };
  } catch {
    return null;
  }
}

export interface VerifyResult {
  ok: boolean;
  /** True when the hash verified but was made with other parameters: store a new hash. */
  needsRehash: boolean;
}

export interface PasswordHasher {
  /** `tagLength` other than 32 only to make hashes like other systems' (tests of the upgrade path). */
  hashPassword(password: string, params?: Argon2Params, tagLength?: number): Promise<string>;
  verifyPassword(password: string, phc: string): Promise<VerifyResult>;
  /**
   * Spend the same work as a real verification when there is no user to verify against, so
   * unknown usernames answer in about the same time as wrong passwords (no enumeration by timing).
   */
  burnPasswordCheck(password: string): Promise<void>;
}

// A well-formed hash of the current parameters that matches no password: verifying against it
// costs exactly one real verification.
const DUMMY_HASH = `$argon2id$v=19$m=${CURRENT_PARAMS.m},t=${CURRENT_PARAMS.t},p=${CURRENT_PARAMS.p}$ZWRnZS1hdXRoIGR1bW15$ZWRnZS1hdXRoIGR1bW15IGhhc2ggdGhhdCBtYXRjaGVzIG5vdGhpbmc`;

export function createPasswordHasher(wasm: Argon2Wasm): PasswordHasher {
  let hasher: Promise<ComputeHash> | undefined;
  function load(): Promise<ComputeHash> {
    hasher ??= setupWasm(
      async (imports) => {
        const module = await wasm.simd();
        return { module, instance: await WebAssembly.instantiate(module, imports) };
      },
      async (imports) => {
        const module = await wasm.noSimd();
        return { module, instance: await WebAssembly.instantiate(module, imports) };
      },
    ).catch((err: unknown) => {
      hasher = undefined; // let the next call try again
      throw err;
    });
    return hasher;
  }

  async function hashPassword(password: string, params: Argon2Params = CURRENT_PARAMS, tagLength = TAG_BYTES): Promise<string> {
    const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
    const tag = await compute(load, password, salt, params, tagLength);
    return `$argon2id$v=19$m=${params.m},t=${params.t},p=${params.p}$${b64(salt)}$${b64(tag)}`;
  }

  async function verifyPassword(password: string, phc: string): Promise<VerifyResult> {
    const parsed = parsePhc(phc);
    if (!parsed) throw new PasswordHashError(new Error('unreadable stored hash'));
    // The stored tag's own length: hashes imported from systems with other tag sizes verify too,
    // and are upgraded to ours on the next login.
    const tag = await compute(load, password, parsed.salt, parsed.params, parsed.tag.length);
    const ok = timingSafeEqual(tag, parsed.tag);
    const p = parsed.params;
    return { ok, needsRehash: ok && (p.m !== CURRENT_PARAMS.m || p.t !== CURRENT_PARAMS.t || p.p !== CURRENT_PARAMS.p || parsed.tag.length !== TAG_BYTES) };
  }

  async function burnPasswordCheck(password: string): Promise<void> {
    await verifyPassword(password, DUMMY_HASH);
  }

  return { hashPassword, verifyPassword, burnPasswordCheck };
}
