// The signing key ring: keys live in D1 (private halves AES-GCM encrypted), one active key per
// algorithm signs, retired keys keep verifying until the tokens they signed have expired.
// Each isolate caches the imported keys; an unknown `kid` reloads from D1 at most once per
// RELOAD_INTERVAL_SECONDS, so forged kids cannot turn into a D1 read storm.
import { and, desc, eq, gt, lt, or } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { Config, JwtAlg } from '../config';
import { decryptSecret, encryptSecret } from '../crypto/encrypt';
import { b64url, fromB64url, utf8 } from '../crypto/encoding';
import { sha256 } from '../crypto/digest';
import { randomToken } from '../crypto/random';
import { signingKeys, type SigningKeyRow } from '../db/schema';

/** A token with an unknown kid may trigger a reload this often per isolate, no more. */
export const RELOAD_INTERVAL_SECONDS = 5;
/** Cached keys are re-read this often, so a rotation reaches every isolate's signer within it. */
export const CACHE_TTL_SECONDS = 30;

export interface SigningKey {
  kid: string;
  alg: JwtAlg;
  key: CryptoKey;
}

interface VerifyKey {
  key: CryptoKey;
  /** Unix seconds after which the key no longer verifies; null while active. */
  notAfter: number | null;
}

export interface PublicKeyInfo {
  kid: string;
  alg: JwtAlg;
  status: 'active' | 'retired';
  created_at: number;
  retired_at: number | null;
  retire_after: number | null;
}

async function importHmac(raw: Uint8Array<ArrayBuffer>, usages: string[]): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, usages);
}

/** The kid of the JWT_SECRET key: derived, so every isolate and every deploy agree on it. */
export async function envSecretKid(secret: string): Promise<string> {
  return `env-${(await sha256(`edge-auth kid\u0000${secret}`)).slice(0, 16)}`;
}

interface NewKey {
  kid: string;
  publicJwk: string | null;
  privateMaterial: string;
}

async function generate(alg: JwtAlg): Promise<NewKey> {
  if (alg === 'ES256') {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const pub = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(pub); // RFC 7638: stable, derived from the key
    return { kid, publicJwk: JSON.stringify({ ...pub, kid, alg, use: 'sig' }), privateMaterial: JSON.stringify(await exportJWK(privateKey)) };
  }
  return { kid: `hs-${randomToken(12)}`, publicJwk: null, privateMaterial: b64url(crypto.getRandomValues(new Uint8Array(32))) };
}

async function importRow(row: SigningKeyRow, kek: string, usage: 'sign' | 'verify'): Promise<CryptoKey> {
  if (row.alg === 'ES256') {
    if (usage === 'verify') return (await importJWK(JSON.parse(row.publicJwk ?? 'null') as JWK, 'ES256')) as CryptoKey;
    const jwk = JSON.parse(await decryptSecret(kek, row.privateEnc, row.kid)) as JWK;
    return (await importJWK(jwk, 'ES256')) as CryptoKey;
  }
  const secret = await decryptSecret(kek, row.privateEnc, row.kid);
  return importHmac(fromB64url(secret), usage === 'sign' ? ['sign'] : ['verify']);
}

/** Rows that still verify at `now`: the active key and retired keys within their overlap. */
async function liveRows(db: D1Database, alg: JwtAlg, now: number): Promise<SigningKeyRow[]> {
  return drizzle(db)
    .select()
    .from(signingKeys)
    .where(and(eq(signingKeys.alg, alg), or(eq(signingKeys.status, 'active'), gt(signingKeys.retireAfter, now))))
    .orderBy(desc(signingKeys.createdAt))
    .all();
}

/**
 * Make sure an active key exists. Two isolates racing here both try to insert; the partial unique
 * index `signing_keys_one_active` lets exactly one win and the other's insert is a no-op.
 */
export async function ensureActiveKey(db: D1Database, config: Config, now: number): Promise<SigningKeyRow> {
  const orm = drizzle(db);
  const find = () =>
    orm.select().from(signingKeys).where(and(eq(signingKeys.alg, config.alg), eq(signingKeys.status, 'active'))).get();
  const existing = await find();
  if (existing) return existing;
  const key = await generate(config.alg);
  await orm
    .insert(signingKeys)
    .values({
      kid: key.kid,
      alg: config.alg,
      publicJwk: key.publicJwk,
      privateEnc: await encryptSecret(config.keyEncryptionKey, key.privateMaterial, key.kid),
      status: 'active',
      createdAt: now,
    })
    .onConflictDoNothing()
    .run();
  const active = await find();
  if (!active) throw new Error('no active signing key after creation');
  return active;
}

/**
 * Retire the active key (it keeps verifying for `overlap` seconds) and activate a new one, in one
 * D1 batch (a transaction). Returns the new kid.
 */
export async function rotateKey(db: D1Database, config: Config, now: number): Promise<{ kid: string; retired: string[] }> {
  const orm = drizzle(db);
  const key = await generate(config.alg);
  const overlap = config.accessTtl + config.leeway;
  const [retired] = await orm.batch([
    orm
      .update(signingKeys)
      .set({ status: 'retired', retiredAt: now, retireAfter: now + overlap })
      .where(and(eq(signingKeys.alg, config.alg), eq(signingKeys.status, 'active')))
      .returning({ kid: signingKeys.kid }),
    orm.insert(signingKeys).values({
      kid: key.kid,
      alg: config.alg,
      publicJwk: key.publicJwk,
      privateEnc: await encryptSecret(config.keyEncryptionKey, key.privateMaterial, key.kid),
      status: 'active',
      createdAt: now,
    }),
  ]);
  return { kid: key.kid, retired: retired.map((r) => r.kid) };
}

export async function listKeys(db: D1Database, alg?: JwtAlg): Promise<PublicKeyInfo[]> {
  const rows = await drizzle(db)
    .select({
      kid: signingKeys.kid,
      alg: signingKeys.alg,
      status: signingKeys.status,
      created_at: signingKeys.createdAt,
      retired_at: signingKeys.retiredAt,
      retire_after: signingKeys.retireAfter,
    })
    .from(signingKeys)
    .where(alg ? eq(signingKeys.alg, alg) : undefined)
    .orderBy(desc(signingKeys.createdAt))
    .all();
  return rows;
}

/** Public JWKs that verifiers may need now: ES256 only (an HS256 key has no public half). */
export async function publicJwks(db: D1Database, config: Config, now: number): Promise<JWK[]> {
  if (config.alg !== 'ES256') return [];
  await ensureActiveKey(db, config, now);
  const rows = await liveRows(db, 'ES256', now);
  return rows.filter((r) => r.publicJwk).map((r) => JSON.parse(r.publicJwk!) as JWK);
}

/** Delete retired keys whose overlap has passed (the scheduled clean-up calls this). */
export async function purgeRetiredKeys(db: D1Database, now: number): Promise<number> {
  const result = await drizzle(db)
    .delete(signingKeys)
    .where(and(eq(signingKeys.status, 'retired'), lt(signingKeys.retireAfter, now)))
    .run();
  return result.meta.changes ?? 0;
}

/** Per-isolate cache of imported keys for one database and algorithm. */
export class KeyRing {
  private signing: SigningKey | undefined;
  private verifying = new Map<string, VerifyKey>();
  private loadedAt = -Infinity;
  private lastReload = -Infinity;
  private inflight: Promise<void> | undefined;
  /** D1 loads performed: exposed so tests can assert the reload bound. */
  loads = 0;

  constructor(private readonly db: D1Database, private readonly config: Config) {}

  private async load(now: number): Promise<void> {
    this.loads++;
    this.lastReload = now;
    const { config } = this;
    const verifying = new Map<string, VerifyKey>();
    if (config.alg === 'HS256' && config.jwtSecret) {
      const raw = utf8(config.jwtSecret);
      const kid = await envSecretKid(config.jwtSecret);
      this.signing = { kid, alg: 'HS256', key: await importHmac(raw, ['sign']) };
      verifying.set(kid, { key: await importHmac(raw, ['verify']), notAfter: null });
    } else {
      const active = await ensureActiveKey(this.db, config, now);
      const rows = await liveRows(this.db, config.alg, now);
      for (const row of rows) {
        verifying.set(row.kid, {
          key: await importRow(row, config.keyEncryptionKey, 'verify'),
          notAfter: row.status === 'active' ? null : row.retireAfter,
        });
      }
      if (this.signing?.kid !== active.kid) {
        this.signing = { kid: active.kid, alg: config.alg, key: await importRow(active, config.keyEncryptionKey, 'sign') };
      }
    }
    this.verifying = verifying;
    this.loadedAt = now;
  }

  private reload(now: number): Promise<void> {
    this.inflight ??= this.load(now).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  async signingKey(now: number): Promise<SigningKey> {
    if (!this.signing || now - this.loadedAt >= CACHE_TTL_SECONDS) await this.reload(now);
    return this.signing!;
  }

  /** The key for `kid`, or null when no live key has that id (after at most one bounded reload). */
  async verifyKey(kid: string, now: number): Promise<CryptoKey | null> {
    if (now - this.loadedAt >= CACHE_TTL_SECONDS) await this.reload(now);
    let entry = this.verifying.get(kid);
    if (!entry && now - this.lastReload >= RELOAD_INTERVAL_SECONDS) {
      await this.reload(now);
      entry = this.verifying.get(kid);
    }
    if (!entry || (entry.notAfter !== null && now > entry.notAfter)) return null;
    return entry.key;
  }

  /** Forget cached keys (after a rotation performed by this isolate). */
  invalidate(): void {
    this.loadedAt = -Infinity;
    this.lastReload = -Infinity;
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
