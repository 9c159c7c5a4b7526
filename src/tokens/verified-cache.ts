// A per-isolate cache of verified access tokens (the precedent: Envoy jwt_authn's
// `jwt_cache_config`). It saves the signature check and the claim parsing of a token this isolate
// has already verified, nothing else: revocation, roles, `fresh`, MFA and every other check run on
// every request (services/authenticate.ts), and the clock checks (exp, nbf, iat) run again on every
// hit with the same leeway (tokens/access.ts). Why this is safe: docs/security.md "Verified-token cache".
//
// - Keyed by the exact token string: a hit means the very bytes whose signature was checked, so no
//   prefix or digest collision can stand in for a verified token.
// - Only successful verifications are stored; a refused token is verified afresh every time.
// - One cache per key ring (tokens/keys.ts): it is dropped whenever the ring's set of verifying
//   keys changes (rotation, retirement, a deleted key) and every hit re-checks that the token's key
//   still verifies, so a key leaving the ring stops its tokens at once.
// - Bounded twice, by entries and by the characters of the tokens held, oldest use evicted first
//   (a Map iterates in insertion order; a hit is moved to the end).
import type { AccessClaims } from './access';

/** Tokens held per isolate and key ring. */
export const VERIFIED_CACHE_ENTRIES = 4_096;
/**
 * Characters of token held per isolate and key ring (tokens are base64url, one byte a character in
 * V8): about 4 MiB of strings, plus the claims, whatever the tokens' length (MAX_TOKEN_LENGTH).
 */
export const VERIFIED_CACHE_CHARS = 4 * 1024 * 1024;

export interface VerifiedToken {
  /** Frozen: one object is handed to every request that presents the token. */
  claims: Readonly<AccessClaims>;
  /** The key that verified the signature: a hit is refused once it no longer verifies. */
  kid: string;
  /** The token's `nbf`, when it has one: re-checked on every hit like `exp` and `iat`. */
  nbf: number | undefined;
}

export class VerifiedTokenCache {
  private readonly entries = new Map<string, VerifiedToken>();
  private chars = 0;

  constructor(
    private readonly maxEntries = VERIFIED_CACHE_ENTRIES,
    private readonly maxChars = VERIFIED_CACHE_CHARS,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Characters of token currently held (the memory bound's measure). */
  get heldChars(): number {
    return this.chars;
  }

  get(token: string): VerifiedToken | undefined {
    const entry = this.entries.get(token);
    if (entry) {
      // Most recently used goes last, so eviction takes the least recently used.
      this.entries.delete(token);
      this.entries.set(token, entry);
    }
    return entry;
  }

  set(token: string, entry: VerifiedToken): void {
    if (token.length > this.maxChars) return;
    this.delete(token);
    this.entries.set(token, entry);
    this.chars += token.length;
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries && this.chars <= this.maxChars) break;
      this.delete(oldest);
    }
  }

  delete(token: string): void {
    if (this.entries.delete(token)) this.chars -= token.length;
  }

  clear(): void {
    this.entries.clear();
    this.chars = 0;
  }
}
