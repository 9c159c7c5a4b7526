// Example protected routes: what an application behind edge-auth looks like.
import { Hono } from '../lib/hono';
import type { AppEnv } from '../app-env';
import { requireAuth } from '../middleware/require-auth';

export const apiRoutes = new Hono<AppEnv>()
  // Claims only: no D1 read on the hot path (see README "Fresh rights").
  .get('/private', requireAuth(), (c) => {
    const auth = c.get('auth');
    return c.json({ message: 'Hello from a protected route.', user: { id: auth.userId, username: auth.username, roles: auth.roles } });
  })
  .get('/admin', requireAuth({ roles: ['admin'] }), (c) => {
    const auth = c.get('auth');
    return c.json({ message: 'Hello, administrator.', user: { id: auth.userId, username: auth.username, roles: auth.roles } });
  });
