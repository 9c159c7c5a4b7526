// POST /oauth/revoke (RFC 7009): refresh tokens end their session, access tokens are refused from
// now on (a user's token ends its session; a client's token only itself), API keys are revoked.
// An unknown or already invalid token is not an error (section 2.2): the answer is 200 either way.
import type { Config } from '../config';
import { AppError } from '../errors';
import { authenticate, type AuthStores } from '../services/authenticate';
import { endSessions, sessionOfRefreshToken } from '../tokens/refresh';
import { looksLikeApiKey } from '../tokens/api-key-format';
import { lookupApiKey } from '../tokens/api-keys';
import { revokeSessionTokens } from '../tokens/revocation';

export type Revoked = { kind: 'refresh_token' | 'access_token' | 'api_key'; subjectId: string; id: string } | undefined;

export async function revokeToken(
  stores: AuthStores,
  config: Config,
  token: string,
  now: number,
  revokeApiKey: (keyId: string) => Promise<void>,
): Promise<Revoked> {
  if (looksLikeApiKey(token)) {
    const record = await lookupApiKey(stores.KV, token, now);
    if (!record) return undefined;
    await revokeApiKey(record.id);
    return { kind: 'api_key', subjectId: record.uid, id: record.id };
  }
  const sid = await sessionOfRefreshToken(stores, token);
  if (sid) {
    await endSessions(stores, config, [sid], 'oauth_revoke', now);
    return { kind: 'refresh_token', subjectId: sid, id: sid };
  }
  let subject;
  try {
    subject = await authenticate(stores, config, token, now);
  } catch (err) {
    if (err instanceof AppError && err.status < 500) return undefined;
    throw err;
  }
  if (subject.type === 'client') {
    await revokeSessionTokens(stores.KV, [{ id: subject.sid, lastUsedAt: subject.iat ?? now }], { accessTtl: config.accessTtl, leeway: config.leeway }, 'oauth_revoke', now);
  } else {
    await endSessions(stores, config, [subject.sid], 'oauth_revoke', now, subject.sub);
  }
  return { kind: 'access_token', subjectId: subject.sub, id: subject.sid };
}
