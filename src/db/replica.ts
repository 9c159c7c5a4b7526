// D1 read replication (Sessions API, `withSession`): a read that may be answered by a nearby
// replica instead of the primary, which can be far from the location serving the request. Only
// for reads where a replica's lag is harmless; every such read is listed in docs/consistency.md
// ("Read replicas"). Exact decisions never read through here: they are conditional statements on
// the primary (db/sessions.ts, db/lockout.ts, db/login.ts), and so is requireAuth's `fresh` check.

/**
 * The database as seen by one unconstrained session: its first query may go to any replica.
 * Falls back to the binding itself where sessions are not available (then every read is primary).
 */
export function readReplica(db: D1Database): D1Database {
  if (typeof db.withSession !== 'function') return db;
  // A session has prepare/batch like the binding; that is all the readers use.
  return db.withSession('first-unconstrained') as unknown as D1Database;
}
