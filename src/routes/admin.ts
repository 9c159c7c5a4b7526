// /admin/*: user administration and the audit log, for the built-in `admin` role. Every route
// re-reads the caller from D1 (requireAuth `fresh`): a demoted, disabled or deleted administrator
// loses access at the next request, not when their token expires. The guard is attached per route
// (not `use('*')`) because other modules mount more routes under /admin with their own guards.
import type { Context } from 'hono';
import { Hono } from '../lib/hono';
import * as z from 'zod/mini';
import type { AppEnv } from '../app-env';
import { AppError } from '../errors';
import { readJson } from '../lib/body';
import { pageSize, readQuery, unixSeconds } from '../lib/query';
import { requestMeta } from '../lib/request-meta';
import { email, MAX_ROLES_PER_USER, role } from '../lib/validation';
import { requireAdmin } from '../middleware/require-auth';
import * as admin from '../services/admin';

const adminOnly = requireAdmin();

export const UserId = z.uuid();
export const UserListQuery = z.strictObject({
  limit: pageSize,
  cursor: z.optional(z.string().check(z.maxLength(400))),
  username_prefix: z.optional(
    z
      .pipe(z.string(), z.transform((p: string) => p.normalize('NFKC').toLowerCase()))
      .check(
        z.refine((p) => /^[a-z0-9._-]{1,64}$/.test(p), {
          message: 'username_prefix must be 1 to 64 characters of letters, digits, ".", "_" or "-"',
        }),
      ),
  ),
});
export const UserPatch = z
  .strictObject({
    roles: z.optional(z.array(role).check(z.maxLength(MAX_ROLES_PER_USER, `at most ${MAX_ROLES_PER_USER} roles`))),
    email: z.optional(z.nullable(email)),
    disabled: z.optional(z.boolean({ error: 'disabled must be true or false' })),
  })
  .check(
    z.refine((p) => p.roles !== undefined || p.email !== undefined || p.disabled !== undefined, {
      message: 'Give at least one of roles, email, disabled.',
    }),
  );
export const AuditQuery = z
  .strictObject({
    limit: pageSize,
    cursor: z.optional(z.string().check(z.maxLength(400))),
    user: z.optional(z.uuid({ error: 'user must be a user id' })),
    actor: z.optional(z.uuid({ error: 'actor must be a user id' })),
    event: z.optional(z.string().check(z.regex(/^[a-z][a-z_]{0,39}$/, 'event must be an event name such as login or role_change'))),
    outcome: z.optional(z.enum(['success', 'failure'], { error: 'outcome must be success or failure' })),
    since: z.optional(unixSeconds('since')),
    until: z.optional(unixSeconds('until')),
  })
  .check(z.refine((q) => q.since === undefined || q.until === undefined || q.since <= q.until, { message: 'since must not be after until' }));

function deps(c: Context<AppEnv>): admin.AdminDeps {
  return { env: c.env, config: c.get('config'), meta: requestMeta(c), now: c.get('now')(), actorId: c.get('auth').userId };
}

/** Path ids that are not user ids cannot name a user: 404, as for an unknown one. */
function userId(c: Context): string {
  const id = UserId.safeParse(c.req.param('id'));
  if (!id.success) throw new AppError('not_found', 'No such user.');
  return id.data;
}

export const adminRoutes = new Hono<AppEnv>()
  .get('/users', adminOnly, async (c) => {
    const q = readQuery(c, UserListQuery);
    const page = await admin.listUsers(deps(c), { limit: q.limit, cursor: q.cursor, prefix: q.username_prefix });
    return c.json({ users: page.items, next_cursor: page.nextCursor });
  })
  .get('/users/:id', adminOnly, async (c) => {
    return c.json({ user: await admin.getUser(deps(c), userId(c)) });
  })
  .patch('/users/:id', adminOnly, async (c) => {
    const id = userId(c);
    const changes = await readJson(c, UserPatch);
    return c.json({ user: await admin.updateUser(deps(c), id, changes) });
  })
  .delete('/users/:id', adminOnly, async (c) => {
    await admin.deleteUser(deps(c), userId(c));
    return c.body(null, 204);
  })
  .get('/users/:id/sessions', adminOnly, async (c) => {
    return c.json({ sessions: await admin.userSessions(deps(c), userId(c)) });
  })
  .delete('/users/:id/sessions', adminOnly, async (c) => {
    return c.json({ sessions_ended: await admin.endSessionsOf(deps(c), userId(c)) });
  })
  .post('/users/:id/unlock', adminOnly, async (c) => {
    return c.json({ user: await admin.unlockUser(deps(c), userId(c)) });
  })
  .get('/audit', adminOnly, async (c) => {
    const q = readQuery(c, AuditQuery);
    const page = await admin.readAudit(deps(c), q);
    return c.json({ events: page.items, next_cursor: page.nextCursor });
  });
