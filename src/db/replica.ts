// D1 read replication (Sessions API, `withSession`): a read that may be answered by a nearby
// replica instead of the primary, which can be far from the location serving the request. Only
// for reads where a replica's lag is harmless; every such read is listed in docs/consistency.md
// ("Read replicas"). Exact decisions never read through here: they are conditional statements on
// the primary (db/sessions.ts, db/lockout.ts, db/login.ts), and so is requireAuth's `fresh` check.

/** The binding as far as sessions go (scripts/ type-check src/ against a smaller D1Database). */
type WithSessions = { withSession?: (constraint: 'first-unconstrained' | 'first-primary') => unknown };

/**
 * The database as seen by one unconstrained session: its first query may go to any replica.
 * Falls back to the binding itself where sessions are not available (then every read is primary).
 */
export function readReplica(db: D1Database): D1Database {
  const withSession = (db as unknown as WithSessions).withSession;
  if (typeof withSession !== 'function') return db;
  // A session has prepare/batch like the binding; that is all the readers use.
  return withSession.call(db, 'first-unconstrained') as D1Database;
}
