// Client authentication for the /oauth endpoints (RFC 6749 section 2.3.1): HTTP Basic
// (client_secret_basic) or client_id and client_secret in the form (client_secret_post), never
// both. Failures are throttled and locked out like password failures: they count in the login
// budgets (per client address and per client) and toward a lockout in D1. Successes cost one D1
// read and no write, so a gateway may introspect on every request it serves.
import type { Context } from 'hono';
import type { AppEnv } from '../app-env';
import { sha256, timingSafeEqualString } from '../crypto/digest';
import { clearClientFailures, countClientFailure, findClient } from '../db/clients';
import type { OAuthClientRow } from '../db/schema';
import { clientBucket, enforceRateLimit } from '../middleware/rate-limit';
import { invalidClient, OAuthError } from './errors';

const CLIENT_ID_PATTERN = /^cl_[A-Za-z0-9_-]{22}$/;
const MAX_SECRET_LENGTH = 256;

function fromBasic(header: string): { id: string; secret: string } {
  const match = /^basic +([A-Za-z0-9+/]+=*)$/i.exec(header.trim());
  if (!match) throw invalidClient('The Authorization header must be "Basic <credentials>".');
  let decoded: string;
  try {
    decoded = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(Uint8Array.from(atob(match[1]!), (ch) => ch.charCodeAt(0)));
  } catch {
    throw invalidClient();
  }
  const colon = decoded.indexOf(':');
  if (colon < 0) throw invalidClient();
  try {
    // RFC 6749 section 2.3.1: both parts are form-urlencoded before Basic encoding.
    return { id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')), secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')) };
  } catch {
    throw invalidClient();
  }
}

/** The presented client credentials, by whichever single method the request used. */
function presented(c: Context, form: Map<string, string>): { id: string; secret: string } {
  const header = c.req.header('Authorization');
  const inForm = form.has('client_secret');
  if (header !== undefined && inForm) throw new OAuthError('invalid_request', 'Use one client authentication method, not two.');
  if (header !== undefined) {
    const basic = fromBasic(header);
    if (form.has('client_id') && form.get('client_id') !== basic.id) throw new OAuthError('invalid_request', 'client_id does not match the authenticated client.');
    return basic;
  }
  const id = form.get('client_id');
  const secret = form.get('client_secret');
  if (id === undefined || secret === undefined) throw invalidClient('Client authentication is required.');
  return { id, secret };
}

async function secretMatches(client: OAuthClientRow, secret: string, now: number): Promise<boolean> {
  const hash = await sha256(secret);
  const current = timingSafeEqualString(hash, client.secretHash);
  const previous = client.previousSecretHash !== null && client.previousExpiresAt !== null && client.previousExpiresAt > now
    ? timingSafeEqualString(hash, client.previousSecretHash)
    : false;
  return current || previous;
}

/** A failure: counted toward the lockout and the throttles (429 once over), then invalid_client. */
async function refuse(c: Context<AppEnv>, id: string | undefined, now: number): Promise<never> {
  if (id !== undefined) await countClientFailure(c.env.DB, id, now);
  await enforceRateLimit(c, 'RL_LOGIN_IP', `ip:${clientBucket(c)}`);
  if (id !== undefined) await enforceRateLimit(c, 'RL_LOGIN_USER', `client:${id}`);
  throw invalidClient();
}

/** The authenticated, enabled client; OAuthError invalid_client (401, Basic challenge) otherwise. */
export async function authenticateClient(c: Context<AppEnv>, form: Map<string, string>): Promise<OAuthClientRow> {
  const credentials = presented(c, form);
  const now = c.get('now')();
  if (!CLIENT_ID_PATTERN.test(credentials.id) || credentials.secret.length === 0 || credentials.secret.length > MAX_SECRET_LENGTH) return refuse(c, undefined, now);
  const client = await findClient(c.env.DB, credentials.id);
  // A locked client's secret is not compared at all: the answer cannot depend on it.
  if (!client || (client.lockedUntil !== null && client.lockedUntil > now)) {
    await sha256(credentials.secret); // about the same work as a comparison
    return refuse(c, client?.id, now);
  }
  if (!(await secretMatches(client, credentials.secret, now)) || client.disabled) return refuse(c, client.id, now);
  if (client.failedAttempts > 0) await clearClientFailures(c.env.DB, client.id);
  return client;
}
