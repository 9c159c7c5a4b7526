// /admin/clients: OAuth 2 service clients (docs/machine-clients.md), for administrators.
import type { Context } from 'hono';
import { Hono } from '../lib/hono';
import * as z from 'zod/mini';
import type { AppEnv } from '../app-env';
import { AppError } from '../errors';
import { readJson } from '../lib/body';
import { pageSize, readQuery } from '../lib/query';
import { requestMeta } from '../lib/request-meta';
import { requireAdmin } from '../middleware/require-auth';
import type { AdminDeps } from '../services/admin';
import * as clients from '../services/clients';
import { keyName, roleList } from './api-keys';

const adminOnly = requireAdmin();
export const NewClient = z.strictObject({ name: keyName, roles: roleList });
export const ClientPatch = z
  .strictObject({ name: z.optional(keyName), roles: z.optional(roleList), disabled: z.optional(z.boolean({ error: 'disabled must be true or false' })) })
  .check(z.refine((p) => p.name !== undefined || p.roles !== undefined || p.disabled !== undefined, { message: 'Give at least one of name, roles, disabled.' }));
export const ListQuery = z.strictObject({ limit: pageSize, cursor: z.optional(z.string().check(z.maxLength(400))) });
export const ClientId = z.string().check(z.regex(/^cl_[A-Za-z0-9_-]{22}$/));

function deps(c: Context<AppEnv>): AdminDeps {
  return { env: c.env, config: c.get('config'), meta: requestMeta(c), now: c.get('now')(), actorId: c.get('auth').userId };
}

function clientId(c: Context): string {
  const id = ClientId.safeParse(c.req.param('id'));
  if (!id.success) throw new AppError('not_found', 'No such client.');
  return id.data;
}

export const adminClientRoutes = new Hono<AppEnv>()
  .post('/', adminOnly, async (c) => {
    const created = await clients.createClient(deps(c), await readJson(c, NewClient));
    // The secret is shown once: only its hash is kept.
    return c.json({ client: created.client, client_secret: created.secret }, 201);
  })
  .get('/', adminOnly, async (c) => {
    const page = await clients.listAllClients(deps(c), readQuery(c, ListQuery));
    return c.json({ clients: page.items, next_cursor: page.nextCursor });
  })
  .get('/:id', adminOnly, async (c) => c.json({ client: await clients.getClient(deps(c), clientId(c)) }))
  .patch('/:id', adminOnly, async (c) => {
    const id = clientId(c);
    return c.json({ client: await clients.changeClient(deps(c), id, await readJson(c, ClientPatch)) });
  })
  .post('/:id/rotate-secret', adminOnly, async (c) => {
    const rotated = await clients.rotateSecret(deps(c), clientId(c));
    return c.json({ client: rotated.client, client_secret: rotated.secret });
  })
  .delete('/:id', adminOnly, async (c) => {
    await clients.removeClient(deps(c), clientId(c));
    return c.body(null, 204);
  });
