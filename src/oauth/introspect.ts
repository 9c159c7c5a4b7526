// POST /oauth/introspect (RFC 7662): for a client-authenticated resource server or gateway, the
// state of a token as edge-auth itself would judge it, revocation included. Anything invalid,
// expired, revoked or foreign is `{active: false}` and nothing more (section 2.2).
import type { Config } from '../config';
import { AppError } from '../errors';
import { authenticate, type AuthStores } from '../services/authenticate';

export type Introspection = { active: false } | ({ active: true } & Record<string, unknown>);

export async function introspect(stores: AuthStores, config: Config, token: string, now: number): Promise<Introspection> {
  let subject;
  try {
    subject = await authenticate(stores, config, token, now);
  } catch (err) {
    if (err instanceof AppError && err.status < 500) return { active: false };
    throw err;
  }
  const common = { active: true as const, sub: subject.sub, username: subject.username, scope: subject.roles.join(' '), exp: subject.exp, subject_type: subject.type };
  if (subject.type === 'api_key') return { ...common, token_type: 'api_key', key_id: subject.key_id };
  return {
    ...common,
    token_type: 'Bearer',
    iat: subject.iat,
    iss: config.issuer,
    aud: config.audience[0],
    jti: subject.jti,
    sid: subject.sid,
    ...(subject.client_id !== undefined ? { client_id: subject.client_id } : {}),
  };
}
