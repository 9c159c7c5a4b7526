// /auth/api-keys: a signed-in user's personal API keys (docs/machine-clients.md). Only a user's
// own session may manage keys: never a key itself, never an OAuth client.
import type { Context } from 'hono';
import { Hono } from '../lib/hono';
import * as z from 'zod/mini';
import type { AppEnv } from '../app-env';
import { AppError } from '../errors';
import { readJson } from '../lib/body';
import { requestMeta } from '../lib/request-meta';
import { loginPassword, MAX_ROLES_PER_USER, role } from '../lib/validation';
import { rateLimitPasswordCheck } from '../middleware/rate-limit';
import { requireAuth } from '../middleware/require-auth';
import { API_KEY_MAX_TTL, createApiKey, listOwnApiKeys, revokeKey } from '../services/api-keys';
import type { AuthDeps } from '../services/auth';

export const keyName = z.string({ error: 'name must be a string' }).check(
  z.trim(),
  z.minLength(1, 'name is required'),
  z.maxLength(64, 'name must be at most 64 characters'),
  z.refine((n) => !/[\u0000-\u001f\u007f]/.test(n), { message: 'name must not contain control characters' }),
);
export const roleList = z.array(role).check(z.maxLength(MAX_ROLES_PER_USER, `at most ${MAX_ROLES_PER_USER} roles`));

export const NewKeyBody = z.strictObject({
  name: keyName,
  roles: z.optional(roleList),
  expires_in: z.optional(
    z.int({ error: 'expires_in must be whole seconds' }).check(
      z.minimum(60, 'expires_in must be at least 60 seconds'),
      z.maximum(API_KEY_MAX_TTL, `expires_in must be at most ${API_KEY_MAX_TTL} seconds`),
    ),
  ),
  password: z.optional(loginPassword),
});
export const KeyId = z.uuid();

function deps(c: Context<AppEnv>): AuthDeps {
  return { env: c.env, config: c.get('config'), meta: requestMeta(c), now: c.get('now')() };
}

/** A path id that is not a key id cannot name a key: 404, as for an unknown one. */
export function keyId(c: Context): string {
  const id = KeyId.safeParse(c.req.param('id'));
  if (!id.success) throw new AppError('not_found', 'No such API key.');
  return id.data;
}

const sessionOnly = requireAuth({ subjects: ['user'] });

export const apiKeyRoutes = new Hono<AppEnv>()
  // Throttled in the password budget: the step-up may verify a password (audit finding 2).
  .post('/', sessionOnly, rateLimitPasswordCheck(), async (c) => {
    const input = await readJson(c, NewKeyBody);
    const auth = c.get('auth');
    const created = await createApiKey(deps(c), { userId: auth.userId, sessionId: auth.sessionId }, {
      name: input.name,
      roles: input.roles,
      expiresIn: input.expires_in,
      password: input.password,
    });
    // Shown once: only a hash is kept.
    return c.json({ api_key: created.key, key: created.view }, 201);
  })
  .get('/', sessionOnly, async (c) => {
    return c.json({ api_keys: await listOwnApiKeys(deps(c), c.get('auth').userId) });
  })
  .delete('/:id', sessionOnly, async (c) => {
    const auth = c.get('auth');
    await revokeKey(deps(c), auth.userId, keyId(c), auth.userId);
    return c.body(null, 204);
  });
