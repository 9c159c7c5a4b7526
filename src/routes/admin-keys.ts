// /admin/keys: the signing key ring for administrators (docs/keys.md). Lists kids, algorithms,
// statuses and dates (never private material) and rotates the configured algorithm's key.
import type { Context } from 'hono';
import { Hono } from '../lib/hono';
import type { AppEnv } from '../app-env';
import { recordAudit } from '../db/audit';
import { listKeys } from '../db/signing-keys';
import { AppError } from '../errors';
import { requestMeta } from '../lib/request-meta';
import { requireAdmin } from '../middleware/require-auth';
import { envSecretKid } from '../tokens/key-material';
import { ExternalKeyError, keyRing, rotate, rotationOverlap, usesEnvSecret } from '../tokens/keys';

const adminOnly = requireAdmin();

function audit(c: Context<AppEnv>, outcome: 'success' | 'failure', detail: Record<string, string | number | null>): Promise<void> {
  const meta = requestMeta(c);
  const actorId = c.get('auth').userId;
  return recordAudit(c.env.DB, { event: 'key_rotate', outcome, actorId, ip: meta.ip, userAgent: meta.userAgent, requestId: meta.requestId, detail }, c.get('now')());
}

export const adminKeyRoutes = new Hono<AppEnv>()
  .get('/', adminOnly, async (c) => {
    const config = c.get('config');
    const now = c.get('now')();
    const keys = (await listKeys(c.env.DB)).map((k) => ({
      ...k,
      // Whether tokens signed by the key are still accepted (a retired key past its overlap is not).
      verifies: k.alg === config.alg && !usesEnvSecret(config) && (k.status !== 'retired' || (k.retire_after ?? 0) > now),
    }));
    const signing = usesEnvSecret(config)
      ? { alg: config.alg, kid: await envSecretKid(config.jwtSecret), source: 'JWT_SECRET' as const }
      : { alg: config.alg, kid: keys.find((k) => k.alg === config.alg && k.status === 'active')?.kid ?? null, source: 'd1' as const };
    return c.json({ signing, rotation_overlap: rotationOverlap(config), keys });
  })
  .post('/rotate', adminOnly, async (c) => {
    const config = c.get('config');
    const now = c.get('now')();
    let result;
    try {
      result = await rotate(c.env.DB, config, now);
    } catch (err) {
      if (!(err instanceof ExternalKeyError)) throw err;
      await audit(c, 'failure', { reason: 'jwt_secret', alg: config.alg });
      throw new AppError('conflict', 'The HS256 key is the JWT_SECRET secret: rotate it by changing the secret (docs/keys.md).');
    }
    // This isolate signs with the new key at once; the others within CACHE_TTL_SECONDS.
    keyRing(c.env.DB, config).invalidate();
    const retireAfter = result.retired ? now + rotationOverlap(config) : null;
    await audit(c, 'success', { alg: config.alg, active: result.active, next: result.next, retired: result.retired ?? null, retire_after: retireAfter });
    return c.json({ alg: config.alg, active: result.active, next: result.next, retired: result.retired ?? null, retire_after: retireAfter });
  });
