// "Recent sign-in" for changing second factors, as for creating API keys (services/api-keys.ts):
// the session's sign-in is younger than STEP_UP_MAX_AGE, or the current password is sent again.
// Otherwise 401 with the RFC 9470 challenge, which tells the client to sign in again.
import type { AuditEvent } from '../db/audit';
import { findSession } from '../db/sessions';
import { AppError, stepUpRequired } from '../errors';
import type { AuthLogEvent } from '../lib/log';
import { STEP_UP_MAX_AGE } from '../services/api-keys';
import { confirmPassword, type AuthDeps } from '../services/auth';

export async function requireRecentSignIn(
  d: AuthDeps,
  caller: { userId: string; sessionId: string },
  password: string | undefined,
  event: AuthLogEvent & AuditEvent,
): Promise<void> {
  if (password !== undefined) {
    await confirmPassword(d, caller.userId, password, event);
    return;
  }
  const session = await findSession(d.env.DB, caller.sessionId);
  if (!session || session.revokedAt !== null || session.userId !== caller.userId) throw new AppError('invalid_token');
  if (d.now - session.createdAt > STEP_UP_MAX_AGE) throw stepUpRequired(STEP_UP_MAX_AGE);
}
