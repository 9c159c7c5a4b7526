// /admin: every user's API keys, for administrators (list metadata, revoke).
import type { Context } from 'hono';
import { Hono } from '../lib/hono';
import type { AppEnv } from '../app-env';
import { requestMeta } from '../lib/request-meta';
import { requireAdmin } from '../middleware/require-auth';
import { listOwnApiKeys, revokeKey } from '../services/api-keys';
import type { AuthDeps } from '../services/auth';
import { getUser } from '../services/admin';
import { keyId } from './api-keys';

const adminOnly = requireAdmin();

function deps(c: Context<AppEnv>): AuthDeps {
  return { env: c.env, config: c.get('config'), meta: requestMeta(c), now: c.get('now')() };
}

export const adminApiKeyRoutes = new Hono<AppEnv>()
  .get('/users/:id/api-keys', adminOnly, async (c) => {
    const d = deps(c);
    const user = await getUser({ ...d, actorId: c.get('auth').userId }, c.req.param('id'));
    return c.json({ api_keys: await listOwnApiKeys(d, user.id) });
  })
  .delete('/api-keys/:id', adminOnly, async (c) => {
    await revokeKey(deps(c), c.get('auth').userId, keyId(c));
    return c.body(null, 204);
  });
