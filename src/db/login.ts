// The second and last D1 round trip of a successful login (the first is the lockout's admission,
// db/lockout.ts): one batch, so one transaction, that
//   1. stores the upgraded password hash, only if the stored one is still the verified one,
//   2. resets the failed-login count (the password was right),
//   3. creates the session, only if the user still matches what the login verified (password,
//      roles, enabled; sessions.ts insertSessionStatement),
//   4. writes the audit row of whichever outcome statement 3 had: success if the session exists,
//      "changed_during_login" failure if it does not.
// Each step used to be its own round trip (issue 18); the decisions are unchanged, and each is
// still one conditional statement (docs/consistency.md).
import { auditStatement, type AuditEntry } from './audit';
import { insertSessionStatement, type NewSession, type UserGuard } from './sessions';

export interface LoginCommit {
  session: NewSession;
  /** What the password check verified. */
  verified: UserGuard;
  /** A stronger hash of the same password, stored in the same batch (argon2 parameters raised). */
  upgradedHash?: string | undefined;
  success: AuditEntry;
  failure: AuditEntry;
}

/** Runs the batch; returns whether the session was created. */
export async function commitLogin(db: D1Database, commit: LoginCommit, now: number): Promise<boolean> {
  const { session, verified, upgradedHash } = commit;
  const statements: D1PreparedStatement[] = [];
  if (upgradedHash !== undefined) {
    statements.push(
      db.prepare('UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ? AND password_hash = ?').bind(upgradedHash, now, session.userId, verified.passwordHash),
    );
  }
  statements.push(db.prepare('UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?').bind(session.userId));
  // After an upgrade the stored hash must be the new one: if the password changed meanwhile, the
  // upgrade above matched nothing and the guard refuses the session, as before.
  const guard = { passwordHash: upgradedHash ?? verified.passwordHash, roles: verified.roles };
  const insertAt = statements.push(insertSessionStatement(db, session, guard, now)) - 1;
  statements.push(auditStatement(db, commit.success, now, { session: session.id, exists: true }));
  statements.push(auditStatement(db, commit.failure, now, { session: session.id, exists: false }));
  const results = await db.batch(statements);
  return (results[insertAt]?.meta.changes ?? 0) === 1;
}
