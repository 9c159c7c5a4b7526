// Platform faults: D1 or KV failing or too slow, as opposed to bad input or a bug. They are
// answered 503 temporarily_unavailable with Retry-After (docs/resilience.md), never a bare 500,
// and logged once as `platform.unavailable`.
//
// The bindings throw plain Errors; what tells a platform fault from a bug is the message the
// runtime gives them (drizzle wraps D1's in DrizzleQueryError, whose `cause` is D1's). A
// constraint or SQL error is a bug or a missing migration and stays a 500: retrying cannot help.
import { AppError } from '../errors';

/**
 * Retry-After of a 503. Shorter than REFRESH_REUSE_GRACE (10 s by default): a refresh whose
 * rotation reached D1 before the fault was answered, and that the client retries after this long,
 * still falls in the grace window and receives the same successor instead of tripping reuse
 * detection (docs/resilience.md "Nothing half-written").
 */
export const RETRY_AFTER_SECONDS = 5;

export type Store = 'd1' | 'kv';

/** A store call that failed or missed its deadline; raised by withDeadline and by test bindings. */
export class PlatformFault extends Error {
  constructor(readonly store: Store, message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'PlatformFault';
  }
}

// Messages of transient D1 and KV failures as Workers reports them ("D1_ERROR: Network connection
// lost.", "D1 DB is overloaded. Requests queued for too long.", "KV GET failed: 503 ...", "KV PUT
// failed: 429 Too Many Requests").
const D1_FAULT = /^(D1_[A-Z_]*ERROR|D1 DB|Network connection lost)|storage (operation|caused object)|overloaded|exceeded timeout|object to be reset/i;
const KV_FAULT = /^KV (GET|GET_BULK|PUT|DELETE|LIST)\b.*failed/i;
// SQL that can never succeed: a bug or a schema without its migrations, not something to retry.
const NOT_TRANSIENT = /constraint failed|no such (table|column)|syntax error|SQLITE_(CONSTRAINT|ERROR)\b|datatype mismatch/i;

/** The store whose fault `err` (or an error in its cause chain) is; undefined for anything else. */
export function platformFaultOf(err: unknown): Store | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof AppError) return undefined;
    if (e instanceof PlatformFault) return e.store;
    if (NOT_TRANSIENT.test(e.message)) return undefined;
    if (D1_FAULT.test(e.message)) return 'd1';
    if (KV_FAULT.test(e.message)) return 'kv';
  }
  return undefined;
}

export function temporarilyUnavailable(): AppError {
  return new AppError('temporarily_unavailable', undefined, { headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) } });
}

/**
 * `promise`, or a PlatformFault once `ms` have passed. The underlying call is not cancelled (a
 * binding call cannot be), so use it only where giving up early is safe: reads whose answer has a
 * fallback (the revocation read falls back to D1, the key ring to its last good set).
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, store: Store, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PlatformFault(store, `${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
