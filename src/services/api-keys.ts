// Personal API keys: created by a signed-in user after a recent sign-in (step-up), listed as
// metadata only, revoked by the owner or an administrator. The key is returned once; D1 keeps its
// hash (db/api-keys.ts) and KV a per-key copy for the hot path (tokens/api-keys.ts).
import { sha256 } from '../crypto/digest';
import { randomId } from '../crypto/random';
import { insertApiKey, listApiKeys, MAX_KEYS_PER_USER, revokeApiKey, toApiKeyView, type ApiKeyView } from '../db/api-keys';
import { findSession } from '../db/sessions';
import { findUserById, parseRoles } from '../db/users';
import { AppError, stepUpRequired } from '../errors';
import { DISPLAY_PREFIX_LENGTH, generateApiKey } from '../tokens/api-key-format';
import { syncApiKeys } from '../tokens/api-keys';
import { auditAuthEvent, confirmPassword, type AuthDeps } from './auth';

/** A sign-in younger than this allows creating a key without the password again (step-up). */
export const STEP_UP_MAX_AGE = 300;
export const API_KEY_DEFAULT_TTL = 90 * 86_400;
export const API_KEY_MAX_TTL = 365 * 86_400;

export interface NewKeyInput {
  name: string;
  /** Default: the owner's current roles. */
  roles?: string[] | undefined;
  expiresIn?: number | undefined;
  /** The current password: the step-up when the sign-in is older than STEP_UP_MAX_AGE. */
  password?: string | undefined;
}

/** Recent sign-in (the session's login time) or the password again; RFC 9470 challenge otherwise. */
async function stepUp(d: AuthDeps, caller: { userId: string; sessionId: string }, password: string | undefined): Promise<void> {
  if (password !== undefined) {
    await confirmPassword(d, caller.userId, password, 'api_key_create');
    return;
  }
  const session = await findSession(d.env.DB, caller.sessionId);
  if (!session || session.revokedAt !== null) throw new AppError('invalid_token');
  if (d.now - session.createdAt > STEP_UP_MAX_AGE) throw stepUpRequired(STEP_UP_MAX_AGE);
}

export async function createApiKey(d: AuthDeps, caller: { userId: string; sessionId: string }, input: NewKeyInput): Promise<{ key: string; view: ApiKeyView }> {
  await stepUp(d, caller, input.password);
  const owner = await findUserById(d.env.DB, caller.userId);
  if (!owner || owner.disabled) throw new AppError('invalid_token');
  const ownerRoles = parseRoles(owner.roles);
  const roles = input.roles !== undefined ? [...new Set(input.roles)] : ownerRoles;
  const extra = roles.filter((r) => !ownerRoles.includes(r));
  if (extra.length > 0) throw new AppError('forbidden', `An API key can only hold roles its owner holds (not: ${extra.join(', ')}).`);

  const key = generateApiKey();
  const id = randomId();
  const expiresAt = d.now + (input.expiresIn ?? API_KEY_DEFAULT_TTL);
  const row = { id, userId: caller.userId, name: input.name, displayPrefix: key.slice(0, DISPLAY_PREFIX_LENGTH), keyHash: await sha256(key), roles, expiresAt };
  // One conditional insert: the owner is still enabled, still holds the roles, and under the cap.
  if (!(await insertApiKey(d.env.DB, row, d.now))) {
    throw new AppError('conflict', `Could not create the key: the account changed meanwhile, or it already has ${MAX_KEYS_PER_USER} live keys.`);
  }
  await syncApiKeys(d.env, caller.userId, d.now);
  await auditAuthEvent(d, { event: 'api_key_create', outcome: 'success', actorId: caller.userId, subjectId: caller.userId, detail: { key_id: id, roles, expires_at: expiresAt } });
  return { key, view: { id, name: input.name, prefix: row.displayPrefix, roles, created_at: d.now, last_used_at: null, expires_at: expiresAt } };
}

export async function listOwnApiKeys(d: AuthDeps, userId: string): Promise<ApiKeyView[]> {
  return (await listApiKeys(d.env.DB, userId, d.now)).map((row) => toApiKeyView(row, parseRoles));
}

/** Revokes a key; `ownerId` restricts it to that user's keys (the owner's own route). */
export async function revokeKey(d: AuthDeps, actorId: string, keyId: string, ownerId?: string): Promise<void> {
  const row = await revokeApiKey(d.env.DB, keyId, d.now, ownerId);
  if (!row) throw new AppError('not_found', 'No such API key.');
  await syncApiKeys(d.env, row.userId, d.now);
  await auditAuthEvent(d, { event: 'api_key_revoke', outcome: 'success', actorId, subjectId: row.userId, detail: { key_id: keyId } });
}
