// /admin/users/:id/mfa: an administrator looks at or resets a user's second factors (audited).
import { Hono } from '../lib/hono';
import * as z from 'zod/mini';
import type { AppEnv } from '../app-env';
import { AppError } from '../errors';
import { requireAdmin } from '../middleware/require-auth';
import { deps } from '../routes/auth';
import { mfaStatus, resetFactors } from './factors';

const UserId = z.uuid();
const adminOnly = requireAdmin();

function userId(raw: string): string {
  const id = UserId.safeParse(raw);
  if (!id.success) throw new AppError('not_found', 'No such user.');
  return id.data;
}

export const adminMfaRoutes = new Hono<AppEnv>()
  .get('/users/:id/mfa', adminOnly, async (c) => c.json(await mfaStatus(deps(c), userId(c.req.param('id')))))
  .post('/users/:id/mfa/reset', adminOnly, async (c) => {
    const result = await resetFactors(deps(c), c.get('auth').userId, userId(c.req.param('id')));
    return c.json({ totp_removed: result.totp, passkeys_removed: result.passkeys });
  });
