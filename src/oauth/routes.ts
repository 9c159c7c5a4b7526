// /oauth/*: the OAuth 2 endpoints for machine clients (docs/machine-clients.md): token
// (client_credentials), introspection (RFC 7662) and revocation (RFC 7009). Form-encoded in,
// JSON out, errors in RFC 6749 section 5.2's shape, every endpoint client-authenticated.
import type { Context } from 'hono';
import { Hono } from '../lib/hono';
import type { AppEnv } from '../app-env';
import { requestMeta } from '../lib/request-meta';
import { revokeKey } from '../services/api-keys';
import { auditAuthEvent, type AuthDeps } from '../services/auth';
import { authenticateClient } from './client-auth';
import { OAuthError, oauthErrorResponse } from './errors';
import { readForm } from './form';
import { introspect } from './introspect';
import { revokeToken } from './revoke';
import { issueClientToken } from './token';

function deps(c: Context<AppEnv>): AuthDeps {
  return { env: c.env, config: c.get('config'), meta: requestMeta(c), now: c.get('now')() };
}

function required(form: Map<string, string>, name: string): string {
  const value = form.get(name);
  if (value === undefined || value.length === 0) throw new OAuthError('invalid_request', `The parameter "${name}" is required.`);
  return value;
}

type Handler = (c: Context<AppEnv>) => Promise<Response>;

/** Client errors in the RFC 6749 shape; server faults go on to the app's handler (house format, logged). */
function oauth(handler: Handler): Handler {
  return async (c) => {
    try {
      return await handler(c);
    } catch (err) {
      const res = oauthErrorResponse(err);
      if (!res) throw err;
      return res;
    }
  };
}

export const oauthRoutes = new Hono<AppEnv>()
  .post('/token', oauth(async (c) => {
    const form = await readForm(c);
    const grant = required(form, 'grant_type');
    const client = await authenticateClient(c, form);
    if (grant !== 'client_credentials') throw new OAuthError('unsupported_grant_type', 'Only grant_type=client_credentials is supported.');
    const d = deps(c);
    const body = await issueClientToken(c.env.DB, d.config, client, form.get('scope'), d.now);
    await auditAuthEvent(d, { event: 'client_token', outcome: 'success', actorId: client.id, subjectId: client.id, detail: { scope: body.scope } });
    return c.json(body);
  }))
  .post('/introspect', oauth(async (c) => {
    const form = await readForm(c);
    const token = required(form, 'token');
    await authenticateClient(c, form);
    const d = deps(c);
    return c.json(await introspect(c.env, d.config, token, d.now));
  }))
  .post('/revoke', oauth(async (c) => {
    const form = await readForm(c);
    const token = required(form, 'token');
    const client = await authenticateClient(c, form);
    const d = deps(c);
    const revoked = await revokeToken(c.env, d.config, token, d.now, (keyId) => revokeKey(d, client.id, keyId));
    if (revoked && revoked.kind !== 'api_key') {
      await auditAuthEvent(d, { event: 'token_revoke', outcome: 'success', actorId: client.id, subjectId: revoked.subjectId, detail: { kind: revoked.kind, session: revoked.id } });
    }
    return c.body(null, 200);
  }));
