// The signing key ring. Keys live in D1 (db/signing-keys.ts; private halves AES-GCM encrypted),
// one active key per algorithm signs, the next key is published ahead of use, retired keys keep
// verifying until every token they signed has expired. Each isolate caches the imported keys:
// it re-reads D1 every CACHE_TTL_SECONDS, and a token with an unknown `kid` triggers at most one
// extra read per RELOAD_INTERVAL_SECONDS, so forged kids cannot turn into a D1 read storm.
//
// With HS256 and the JWT_SECRET secret set, that secret is the one key (kid derived from it) and
// D1 is not consulted; it is rotated by changing the secret, not through the ring.
//
// When D1 fails or is slow during a reload, the ring keeps serving its last good key set (signing,
// verifying, JWKS) for up to STALE_KEYS_SECONDS after its last successful load, retrying at most
// every RELOAD_INTERVAL_SECONDS; past that, the request fails as a platform fault (503). Serving old
// keys is safe: a rotation is itself a D1 write, and the next key is known one rotation ahead.
//
// Cold start: the periodic read may come from a D1 read replica (db/replica.ts; a replica's lag is
// covered by the overlap, see docs/consistency.md), while the reloads that must see the latest keys
// (an unknown kid, after this isolate rotated) go to the primary. Keys are imported when first
// used, not when the ring loads: a verifier's first request imports one key.
import type { JWK } from 'jose';
import type { Config, JwtAlg } from '../config';
import { readReplica } from '../db/replica';
import { describeError, log } from '../lib/log';
import { withDeadline } from '../lib/platform-fault';
import { insertMissingKeys, liveKeys, purgeRetired, rotateKeys, type CurrentKids, type KeyRow } from '../db/signing-keys';
import { envSecretBytes, envSecretKid, generateSealedKey, importHmac, importKey } from './key-material';
import { VerifiedTokenCache } from './verified-cache';

/** A token with an unknown kid may trigger a reload this often per isolate, no more. */
export const RELOAD_INTERVAL_SECONDS = 5;
/** Cached keys are re-read this often, so a rotation reaches every isolate's signer within it. */
export const CACHE_TTL_SECONDS = 10;
/**
 * How long after its last successful load a ring keeps serving its keys while D1 fails. Equal to
 * the longest time a third-party verifier may cache the JWKS (JWKS_MAX_AGE_CAP, routes/well-known.ts),
 * so deleting a compromised key during a D1 outage reaches these isolates no later than it reaches
 * external verifiers (docs/keys.md "A compromised key", docs/resilience.md).
 */
export const STALE_KEYS_SECONDS = 300;
/** With a last good set to fall back on, a reload slower than this serves that set instead of waiting. */
export const RELOAD_DEADLINE_MS = 1_000;

/**
 * How long a retired key keeps verifying: a token signed just before the rotation lives for the
 * access TTL plus the clock leeway, and an isolate that has not reloaded yet may still sign with
 * the old key for up to CACHE_TTL_SECONDS after it.
 */
export function rotationOverlap(config: Pick<Config, 'accessTtl' | 'leeway'>): number {
  return config.accessTtl + config.leeway + CACHE_TTL_SECONDS;
}

export interface SigningKey {
  kid: string;
  alg: JwtAlg;
  key: CryptoKey;
}

interface VerifyKey {
  /** The imported key, or the stored row it is imported from on first use. */
  key: CryptoKey | KeyRow;
  /** Unix seconds from which the key no longer verifies; null while active or next. */
  notAfter: number | null;
}

/** Raised when the HS256 key is the JWT_SECRET secret: the ring cannot rotate it. */
export class ExternalKeyError extends Error {
  constructor() {
    super('the HS256 key is the JWT_SECRET secret; rotate it with `wrangler secret put JWT_SECRET`');
    this.name = 'ExternalKeyError';
  }
}

export function usesEnvSecret(config: Config): config is Config & { jwtSecret: string } {
  return config.alg === 'HS256' && config.jwtSecret !== undefined;
}

/**
 * Makes sure the algorithm has an active and a next key. Two isolates racing here both insert;
 * the partial unique indexes let one row of each kind win and the rest are no-ops.
 */
export async function ensureKeys(db: D1Database, config: Config, now: number): Promise<CurrentKids> {
  const [active, next] = await Promise.all([
    generateSealedKey(config.alg, config.keyEncryptionKey),
    generateSealedKey(config.alg, config.keyEncryptionKey),
  ]);
  const current = await insertMissingKeys(db, active, next, now);
  if (!current.active) throw new Error('no active signing key after creation');
  return current;
}

/** Rotates the configured algorithm's keys in one D1 batch. Returns the kids now active and next. */
export async function rotate(db: D1Database, config: Config, now: number): Promise<{ active: string; next: string; retired: string | undefined }> {
  if (usesEnvSecret(config)) throw new ExternalKeyError();
  const [fresh, fallback] = await Promise.all([
    generateSealedKey(config.alg, config.keyEncryptionKey),
    generateSealedKey(config.alg, config.keyEncryptionKey),
  ]);
  const after = await rotateKeys(db, fresh, fallback, now, rotationOverlap(config));
  if (!after.active || !after.next) throw new Error('rotation left no active or next key');
  return { active: after.active, next: after.next, retired: after.retired };
}

/**
 * Deletes retired keys past their overlap (encrypted private halves included). Rotation does this
 * too; the scheduled clean-up calls it so they also go when no rotation follows.
 */
export function purgeRetiredKeys(db: D1Database, now: number): Promise<number> {
  return purgeRetired(db, now);
}

/** Per-isolate cache of imported keys for one database and configuration. */
export class KeyRing {
  /** The active key: imported, or its row until the first signature. */
  private signer: SigningKey | KeyRow | undefined;
  private verifiers = new Map<string, VerifyKey>();
  private jwks: JWK[] = [];
  /** Imported keys by `usage:kid`: key material never changes under a kid, so imports are reused. */
  private imported = new Map<string, Promise<CryptoKey>>();
  private loadedAt = -Infinity;
  private lastLoad = -Infinity;
  /** When the last reload failed: while serving stale keys, no retry before RELOAD_INTERVAL_SECONDS. */
  private failedAt = -Infinity;
  private inflight: Promise<void> | undefined;
  /** The next load must read the primary (this isolate changed the keys). */
  private primaryNext = false;
  /** The verifying keys as `kid:notAfter` (the verified-token cache is dropped when it changes). */
  private verifierSet = '';
  /** D1 loads performed (or env-secret loads): exposed so tests can assert the reload bound. */
  loads = 0;
  /**
   * Tokens this ring has verified (tokens/verified-cache.ts): dropped whenever the set of verifying
   * keys changes, and each hit re-checks its key with `stillVerifies`.
   */
  readonly verified = new VerifiedTokenCache();

  constructor(private readonly db: D1Database, private readonly config: Config) {}

  private importCached(row: KeyRow, usage: 'sign' | 'verify'): Promise<CryptoKey> {
    const id = `${usage}:${row.kid}`;
    let key = this.imported.get(id);
    if (!key) {
      key = importKey(row, this.config.keyEncryptionKey, usage);
      key.catch(() => this.imported.delete(id));
      this.imported.set(id, key);
    }
    return key;
  }

  private async load(now: number, primary: boolean): Promise<void> {
    this.loads++;
    this.lastLoad = now;
    const { config } = this;
    if (usesEnvSecret(config)) {
      const kid = await envSecretKid(config.jwtSecret);
      const raw = envSecretBytes(config.jwtSecret);
      this.signer = { kid, alg: 'HS256', key: await importHmac(raw, 'sign') };
      this.verifiers = new Map([[kid, { key: await importHmac(raw, 'verify'), notAfter: null }]]);
      this.jwks = [];
      this.noteVerifiers();
      this.loadedAt = now;
      return;
    }
    const readFrom = primary || this.primaryNext ? this.db : readReplica(this.db);
    this.primaryNext = false;
    let rows = await liveKeys(readFrom, config.alg, now);
    if (!rows.some((r) => r.status === 'active') || !rows.some((r) => r.status === 'next')) {
      await ensureKeys(this.db, config, now);
      rows = await liveKeys(this.db, config.alg, now); // the primary: it has what was just inserted
    }
    const active = rows.find((r) => r.status === 'active');
    if (!active) throw new Error('no active signing key');
    const verifiers = new Map<string, VerifyKey>();
    for (const row of rows) verifiers.set(row.kid, { key: row, notAfter: row.status === 'retired' ? row.retireAfter : null });
    this.signer = active;
    this.verifiers = verifiers;
    this.jwks = rows.filter((r) => r.publicJwk).map((r) => JSON.parse(r.publicJwk!) as JWK);
    // Forget imports of keys that left the ring.
    for (const id of this.imported.keys()) if (!verifiers.has(id.slice(id.indexOf(':') + 1))) this.imported.delete(id);
    this.noteVerifiers();
    this.loadedAt = now;
  }

  /** Drops the verified-token cache when a load changed which keys verify, or until when. */
  private noteVerifiers(): void {
    const set = [...this.verifiers].map(([kid, v]) => `${kid}:${v.notAfter}`).sort().join(' ');
    if (set !== this.verifierSet) this.verified.clear();
    this.verifierSet = set;
  }

  private reload(now: number, primary = false): Promise<void> {
    this.inflight ??= this.load(now, primary).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** A loaded set young enough to be served when D1 fails. */
  private hasFallback(now: number): boolean {
    return this.signer !== undefined && now - this.loadedAt < STALE_KEYS_SECONDS;
  }

  private async fresh(now: number): Promise<void> {
    if (now - this.loadedAt < CACHE_TTL_SECONDS && now >= this.loadedAt) return;
    if (!this.hasFallback(now)) {
      await this.reload(now);
      return;
    }
    if (now - this.failedAt < RELOAD_INTERVAL_SECONDS && now >= this.failedAt) return; // D1 failing: back off
    try {
      await withDeadline(this.reload(now), RELOAD_DEADLINE_MS, 'd1', 'key ring reload');
    } catch (err) {
      this.serveStale(now, err);
    }
  }

  private serveStale(now: number, err: unknown): void {
    this.failedAt = now;
    log('warn', 'keys.reload_failed', { code: 'key_ring_stale', age: now - this.loadedAt, staleFor: STALE_KEYS_SECONDS, cause: describeError(err) });
  }

  async signingKey(now: number): Promise<SigningKey> {
    await this.fresh(now);
    const signer = this.signer!;
    if ('key' in signer) return signer;
    return { kid: signer.kid, alg: this.config.alg, key: await this.importCached(signer, 'sign') };
  }

  /** The key for `kid`, or null when no live key has that id (after at most one bounded reload). */
  async verifyKey(kid: string, now: number): Promise<CryptoKey | null> {
    await this.fresh(now);
    let entry = this.verifiers.get(kid);
    if (!entry && now - this.lastLoad >= RELOAD_INTERVAL_SECONDS && !(now - this.failedAt < RELOAD_INTERVAL_SECONDS && now >= this.failedAt)) {
      try {
        // From the primary: a key a replica has not seen yet must not be refused for its lag.
        await withDeadline(this.reload(now, true), RELOAD_DEADLINE_MS, 'd1', 'key ring reload');
      } catch (err) {
        // A genuine token's kid is already known (the next key is loaded one rotation ahead), so
        // an unknown kid while D1 fails is refused as unknown rather than failing the request.
        this.serveStale(now, err);
      }
      entry = this.verifiers.get(kid);
    }
    if (!entry || (entry.notAfter !== null && now >= entry.notAfter)) return null;
    return entry.key instanceof CryptoKey ? entry.key : this.importCached(entry.key, 'verify');
  }

  /**
   * Whether `kid` still verifies (a verified-token cache hit): known to the current ring and not
   * past its retirement. Never reloads for an unknown kid: a key that left the ring stays gone.
   */
  async stillVerifies(kid: string, now: number): Promise<boolean> {
    await this.fresh(now);
    const entry = this.verifiers.get(kid);
    return entry !== undefined && (entry.notAfter === null || now < entry.notAfter);
  }

  /** Public JWKs that verifiers may need: active, next and retired-in-overlap ES256 keys. */
  async publicJwks(now: number): Promise<JWK[]> {
    await this.fresh(now);
    return this.jwks.filter((jwk) => {
      const entry = this.verifiers.get(jwk.kid!);
      return entry !== undefined && (entry.notAfter === null || now < entry.notAfter);
    });
  }

  /** Forget the cached key set (after a rotation performed by this isolate). */
  invalidate(): void {
    this.verified.clear();
    this.loadedAt = -Infinity;
    this.lastLoad = -Infinity;
    this.failedAt = -Infinity;
    this.primaryNext = true;
  }
}

const rings = new WeakMap<D1Database, WeakMap<Config, KeyRing>>();

/** The isolate's key ring for this database and configuration (both live as long as the isolate). */
export function keyRing(db: D1Database, config: Config): KeyRing {
  let byConfig = rings.get(db);
  if (!byConfig) rings.set(db, (byConfig = new WeakMap()));
  let ring = byConfig.get(config);
  if (!ring) byConfig.set(config, (ring = new KeyRing(db, config)));
  return ring;
}
