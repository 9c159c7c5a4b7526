// Personal API keys on the hot path. D1 (db/api-keys.ts) is the record; KV holds one copy per key,
// `apikey:<sha256(key)>` -> {id, uid, roles, exp}, with the roles the key may use right now (its
// own, intersected with its owner's current ones). A request reads that one entry, at most once
// per API_KEY_CACHE_SECONDS per isolate, and never D1. Whatever changes a key or its owner
// rewrites or deletes the copies from D1 (syncApiKeys), so a revoked key, or a demoted, disabled
// or deleted owner, reaches every location within the revocation bound (docs/consistency.md).
//
// There is no D1 fallback for a key KV does not know: the checksum makes made-up keys cheap to
// refuse, but a valid-looking unknown key must not cost a D1 read (a read storm for anyone who
// can compute a CRC). A new key therefore works at once where it was created and elsewhere within
// KV's propagation time (about 60 s), as stated in docs/machine-clients.md.
import { sha256 } from '../crypto/digest';
import { keysWithOwner, touchApiKey } from '../db/api-keys';
import { parseRoles } from '../db/users';
import { log } from '../lib/log';
import { isWellFormedApiKey } from './api-key-format';
import { apiKeyCopy, apiKeyRecordKey, type ApiKeyRecord } from './api-key-copy';
import { REVOCATION_CACHE_SECONDS } from './revocation';

/** "Last used" is written at most once per key per this many seconds (and never on the response path). */
export const LAST_USED_INTERVAL = 300;
/** How long an isolate reuses a KV answer for a key: the same as for revocations. */
export const API_KEY_CACHE_SECONDS = REVOCATION_CACHE_SECONDS;
const MAX_CACHED = 10_000;

function parseRecord(raw: string | null): ApiKeyRecord | undefined {
  if (!raw) return undefined;
  try {
    const r = JSON.parse(raw) as Partial<ApiKeyRecord>;
    if (typeof r.id !== 'string' || typeof r.uid !== 'string' || typeof r.username !== 'string' || typeof r.exp !== 'number' || !Array.isArray(r.roles)) return undefined;
    return { id: r.id, uid: r.uid, username: r.username, roles: r.roles.filter((x): x is string => typeof x === 'string'), exp: r.exp };
  } catch {
    return undefined;
  }
}

interface Cached {
  record: ApiKeyRecord | undefined;
  until: number;
}
const caches = new WeakMap<KVNamespace, Map<string, Cached>>();
function cacheFor(kv: KVNamespace): Map<string, Cached> {
  let cache = caches.get(kv);
  if (!cache) caches.set(kv, (cache = new Map()));
  return cache;
}
function remember(kv: KVNamespace, hash: string, record: ApiKeyRecord | undefined, until: number): void {
  const cache = cacheFor(kv);
  cache.delete(hash);
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
  cache.set(hash, { record, until });
}

/** The live record of a presented key, or undefined (malformed, unknown, revoked or expired). */
export async function lookupApiKey(kv: KVNamespace, presented: string, now: number): Promise<ApiKeyRecord | undefined> {
  if (!isWellFormedApiKey(presented)) return undefined;
  const hash = await sha256(presented);
  const cached = cacheFor(kv).get(hash);
  let record: ApiKeyRecord | undefined;
  if (cached && now < cached.until) {
    record = cached.record;
  } else {
    record = parseRecord(await kv.get(apiKeyRecordKey(hash)));
    remember(kv, hash, record, now + API_KEY_CACHE_SECONDS);
  }
  return record && record.exp > now ? record : undefined;
}

// Per isolate: when this isolate last wrote "last used" for a key.
const lastWritten = new Map<string, number>();

/**
 * Records a use off the response path: at most once per key per LAST_USED_INTERVAL per isolate,
 * and the conditional UPDATE keeps many isolates to about one write per interval too.
 */
export function noteApiKeyUse(db: D1Database, keyId: string, now: number, defer: ((p: Promise<unknown>) => void) | undefined): void {
  const last = lastWritten.get(keyId);
  if (!defer || (last !== undefined && now - last < LAST_USED_INTERVAL)) return;
  if (lastWritten.size >= MAX_CACHED) lastWritten.delete(lastWritten.keys().next().value!);
  lastWritten.set(keyId, now);
  defer(touchApiKey(db, keyId, now, LAST_USED_INTERVAL).catch((err: unknown) => log('warn', 'api_key.touch_failed', { code: 'd1_write_failed', cause: err instanceof Error ? err.name : 'non-error thrown' })));
}

/**
 * Makes the KV copies of a user's keys match D1: live keys of an enabled owner get a record with
 * their usable roles; revoked keys, keys of a disabled or deleted owner are deleted. At most
 * MAX_KEYS_PER_USER live keys (plus the revoked ones not yet expired): a bounded number of KV
 * writes. `extraHashes` names keys D1 no longer has (deleted with their owner).
 */
export async function syncApiKeys(stores: { DB: D1Database; KV: KVNamespace }, userId: string, now: number, extraHashes: readonly string[] = []): Promise<void> {
  const { owner, keys } = await keysWithOwner(stores.DB, userId, now);
  const ownerRoles = owner ? parseRoles(owner.roles) : [];
  const writes: Promise<unknown>[] = [];
  for (const key of keys) {
    const live = owner !== undefined && !owner.disabled && key.revokedAt === null;
    const hash = key.keyHash;
    if (!live) {
      remember(stores.KV, hash, undefined, now + 86_400);
      writes.push(stores.KV.delete(apiKeyRecordKey(hash)));
      continue;
    }
    const copy = apiKeyCopy({ id: key.id, keyHash: hash, roles: parseRoles(key.roles), expiresAt: key.expiresAt }, { id: userId, username: owner.username, roles: ownerRoles }, now);
    remember(stores.KV, hash, copy.record, now + API_KEY_CACHE_SECONDS);
    writes.push(stores.KV.put(copy.key, JSON.stringify(copy.record), { expirationTtl: copy.ttl }));
  }
  for (const hash of extraHashes) {
    remember(stores.KV, hash, undefined, now + 86_400);
    writes.push(stores.KV.delete(apiKeyRecordKey(hash)));
  }
  // As for revocations: D1 has decided; a failed KV write is logged, never a 5xx (the copy is
  // rewritten by the next change, and expires with the key).
  const results = await Promise.allSettled(writes);
  if (results.some((r) => r.status === 'rejected')) log('error', 'api_key.sync_failed', { code: 'kv_write_failed', user: userId });
}
