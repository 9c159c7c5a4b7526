// D1 access of the usage counters (table usage_counters, docs/storage.md): the meter's batched
// upsert, and the reads of GET /auth/usage, GET /admin/usage and the per-day quota. Plain SQL:
// drizzle cannot express `requests = requests + excluded.requests` over a multi-row VALUES list.
import type { SubjectType } from '../services/authenticate';

export interface UsageCounts {
  requests: number;
  /** By status class; a 1xx (a WebSocket's 101) counts as 2xx. */
  s2: number;
  s3: number;
  s4: number;
  s5: number;
  bytesIn: number;
  bytesOut: number;
}

export interface UsageRow extends UsageCounts {
  subjectType: SubjectType;
  subjectId: string;
  route: string;
  /** Start of the UTC hour (or day, in reads by day), Unix seconds. */
  start: number;
}

const COLUMNS = 'subject_type, subject_id, route, hour, requests, status_2xx, status_3xx, status_4xx, status_5xx, bytes_in, bytes_out';
/** D1 binds at most 100 parameters per statement; a row binds 11. */
export const ROWS_PER_STATEMENT = 9;
const UPSERT_TAIL =
  ' ON CONFLICT(subject_type, subject_id, route, hour) DO UPDATE SET requests = requests + excluded.requests,' +
  ' status_2xx = status_2xx + excluded.status_2xx, status_3xx = status_3xx + excluded.status_3xx,' +
  ' status_4xx = status_4xx + excluded.status_4xx, status_5xx = status_5xx + excluded.status_5xx,' +
  ' bytes_in = bytes_in + excluded.bytes_in, bytes_out = bytes_out + excluded.bytes_out';

/** Adds `rows` to the counters in one D1 round trip (one batch: all rows or none). */
export async function addUsage(db: D1Database, rows: readonly UsageRow[]): Promise<void> {
  const statements: D1PreparedStatement[] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    const chunk = rows.slice(i, i + ROWS_PER_STATEMENT);
    const values = chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
    const binds = chunk.flatMap((r) => [r.subjectType, r.subjectId, r.route, r.start, r.requests, r.s2, r.s3, r.s4, r.s5, r.bytesIn, r.bytesOut]);
    statements.push(db.prepare(`INSERT INTO usage_counters (${COLUMNS}) VALUES ${values}${UPSERT_TAIL}`).bind(...binds));
  }
  if (statements.length > 0) await db.batch(statements);
}

/** Requests counted for a subject since `since` (the start of the UTC day), all routes. */
export async function requestsSince(db: D1Database, subjectType: SubjectType, subjectId: string, since: number): Promise<number> {
  const row = await db
    .prepare('SELECT COALESCE(SUM(requests), 0) AS n FROM usage_counters WHERE subject_type = ? AND subject_id = ? AND hour >= ?')
    .bind(subjectType, subjectId, since)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

const SUMS =
  'SUM(requests) AS requests, SUM(status_2xx) AS s2, SUM(status_3xx) AS s3, SUM(status_4xx) AS s4, SUM(status_5xx) AS s5,' +
  ' SUM(bytes_in) AS bytesIn, SUM(bytes_out) AS bytesOut';

export interface UsageRange {
  from: number;
  to: number;
  /** Bucket length in seconds: 3600 (hour) or 86400 (day). */
  bucket: number;
}

/** One subject's usage in [from, to), per bucket and route, oldest first. */
export async function subjectUsage(db: D1Database, subjectType: SubjectType, subjectId: string, range: UsageRange): Promise<UsageRow[]> {
  const { results } = await db
    .prepare(
      `SELECT hour - hour % ?1 AS start, route, ${SUMS} FROM usage_counters` +
        ' WHERE subject_type = ?2 AND subject_id = ?3 AND hour >= ?4 AND hour < ?5 GROUP BY start, route ORDER BY start, route',
    )
    .bind(range.bucket, subjectType, subjectId, range.from, range.to)
    .all<Omit<UsageRow, 'subjectType' | 'subjectId'>>();
  return results.map((r) => ({ ...r, subjectType, subjectId }));
}

export interface UsageFilter extends UsageRange {
  subject?: { type: SubjectType; id: string };
  route?: string;
  /** Keyset pagination: rows after this (start, subject type, subject id, route). */
  after?: [number, string, string, string];
  limit: number;
}

/** Every subject's usage in [from, to), filtered, ordered by (start, subject, route); `limit` + 1 rows. */
export async function listUsage(db: D1Database, filter: UsageFilter): Promise<UsageRow[]> {
  const where = ['hour >= ?', 'hour < ?'];
  const binds: (string | number)[] = [filter.bucket, filter.from, filter.to];
  if (filter.subject) {
    where.push('subject_type = ?', 'subject_id = ?');
    binds.push(filter.subject.type, filter.subject.id);
  }
  if (filter.route !== undefined) {
    where.push('route = ?');
    binds.push(filter.route);
  }
  if (filter.after) {
    // Every row of a group has the group's key, so filtering rows by key keeps whole groups.
    where.push('(hour - hour % ?, subject_type, subject_id, route) > (?, ?, ?, ?)');
    binds.push(filter.bucket, ...filter.after);
  }
  binds.push(filter.limit + 1);
  const { results } = await db
    .prepare(
      `SELECT hour - hour % ? AS start, subject_type AS subjectType, subject_id AS subjectId, route, ${SUMS} FROM usage_counters` +
        ` WHERE ${where.join(' AND ')} GROUP BY start, subject_type, subject_id, route ORDER BY start, subject_type, subject_id, route LIMIT ?`,
    )
    .bind(...binds)
    .all<UsageRow>();
  return results;
}
