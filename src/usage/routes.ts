// GET /auth/usage (a caller's own usage) and GET /admin/usage (every subject's, paginated, JSON or
// CSV). The shapes are the usage read API contract in docs/usage.md, shared with the console.
import { Hono, type Context } from 'hono';
import * as z from 'zod/mini';
import type { AppEnv } from '../app-env';
import { decodeCursor, encodeCursor } from '../lib/cursor';
import { readQuery } from '../lib/query';
import { AppError } from '../errors';
import { requireAdmin, requireAuth } from '../middleware/require-auth';
import { readReplica } from '../db/replica';
import type { SubjectType } from '../services/authenticate';
import { granularity, isoOf, isoTime, usageRange } from './range';
import { subjectOf } from './record';
import { listUsage, subjectUsage, type UsageRow } from './store';

export const UsageQuery = z.strictObject({ from: z.optional(isoTime('from')), to: z.optional(isoTime('to')), granularity });

export const ADMIN_DEFAULT_LIMIT = 100;
export const ADMIN_MAX_LIMIT = 500;
const SUBJECT = /^(user|api_key|client):([A-Za-z0-9._~-]{1,128})$/;
/** Route keys are "<METHOD> <path pattern>". */
const ROUTE = /^[A-Z]{3,7} \/[\x21-\x7e]{0,255}$/;
const CURSOR_KIND = 'usage';
const MAX_CURSOR_LENGTH = 1200;

export const AdminUsageQuery = z.strictObject({
  subject: z.optional(
    z.pipe(
      z.string().check(z.regex(SUBJECT, 'subject must be user:<id>, api_key:<id> or client:<id>')),
      z.transform((s: string) => {
        const [, type, id] = SUBJECT.exec(s)!;
        return { type: type as SubjectType, id: id! };
      }),
    ),
  ),
  route: z.optional(z.string().check(z.regex(ROUTE, 'route must be a route key such as "GET /api/profile"'))),
  from: z.optional(isoTime('from')),
  to: z.optional(isoTime('to')),
  granularity,
  limit: z.optional(
    z
      .pipe(z.string().check(z.regex(/^\d{1,4}$/, 'limit must be a whole number')), z.transform(Number))
      .check(z.refine((n) => n >= 1 && n <= ADMIN_MAX_LIMIT, { message: `limit must be between 1 and ${ADMIN_MAX_LIMIT}` })),
  ),
  cursor: z.optional(z.string().check(z.maxLength(MAX_CURSOR_LENGTH))),
  format: z.optional(z.enum(['json', 'csv'], { error: 'format must be json or csv' })),
});

function status(r: UsageRow) {
  return { '2xx': r.s2, '3xx': r.s3, '4xx': r.s4, '5xx': r.s5 };
}

/** The cursor names the granularity it was made for, with the last row's key. */
function readCursor(cursor: string, granularity: string): [number, string, string, string] {
  let key: unknown;
  try {
    key = JSON.parse(decodeCursor(CURSOR_KIND, cursor, MAX_CURSOR_LENGTH));
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('invalid_request', 'cursor is not valid.');
  }
  if (
    !Array.isArray(key) || key.length !== 5 || key[0] !== granularity || !Number.isSafeInteger(key[1]) ||
    typeof key[2] !== 'string' || typeof key[3] !== 'string' || typeof key[4] !== 'string'
  ) {
    throw new AppError('invalid_request', 'cursor is not valid for this granularity.');
  }
  return [key[1], key[2], key[3], key[4]];
}

const CSV_HEADER = 'subject_type,subject_id,route,start,requests,status_2xx,status_3xx,status_4xx,status_5xx,bytes_in,bytes_out';

/** RFC 4180 quoting; a leading formula character is neutralised for spreadsheets (OWASP CSV injection). */
function csvField(value: string | number): string {
  let text = String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function wantsCsv(c: Context, format: 'json' | 'csv' | undefined): boolean {
  if (format !== undefined) return format === 'csv';
  return /(^|,)\s*text\/csv\b/i.test(c.req.header('Accept') ?? '');
}

export const usageRoutes = new Hono<AppEnv>().get('/', requireAuth(), async (c) => {
  const q = readQuery(c, UsageQuery);
  const range = usageRange(q, c.get('now')());
  const subject = subjectOf(c.get('auth'));
  const rows = await subjectUsage(readReplica(c.env.DB), subject.type, subject.id, range);
  const totals = { requests: 0, bytes_in: 0, bytes_out: 0 };
  for (const r of rows) {
    totals.requests += r.requests;
    totals.bytes_in += r.bytesIn;
    totals.bytes_out += r.bytesOut;
  }
  return c.json({
    subject,
    granularity: range.granularity,
    from: isoOf(range.from),
    to: isoOf(range.to),
    totals,
    buckets: rows.map((r) => ({ start: isoOf(r.start), route: r.route, requests: r.requests, status: status(r), bytes_in: r.bytesIn, bytes_out: r.bytesOut })),
  });
});

export const adminUsageRoutes = new Hono<AppEnv>().get('/', requireAdmin(), async (c) => {
  const q = readQuery(c, AdminUsageQuery);
  const range = usageRange(q, c.get('now')());
  const limit = q.limit ?? ADMIN_DEFAULT_LIMIT;
  const after = q.cursor === undefined ? undefined : readCursor(q.cursor, range.granularity);
  const rows = await listUsage(readReplica(c.env.DB), { ...range, subject: q.subject, route: q.route, after, limit });
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  const nextCursor = rows.length > limit && last ? encodeCursor(CURSOR_KIND, JSON.stringify([range.granularity, last.start, last.subjectType, last.subjectId, last.route])) : null;
  if (wantsCsv(c, q.format)) {
    const lines = page.map((r) =>
      [r.subjectType, r.subjectId, r.route, isoOf(r.start), r.requests, r.s2, r.s3, r.s4, r.s5, r.bytesIn, r.bytesOut].map(csvField).join(','),
    );
    if (nextCursor) c.header('X-Next-Cursor', nextCursor);
    c.header('Content-Disposition', 'attachment; filename="usage.csv"');
    return c.body(`${[CSV_HEADER, ...lines].join('\r\n')}\r\n`, 200, { 'Content-Type': 'text/csv; charset=utf-8' });
  }
  return c.json({
    rows: page.map((r) => ({
      subject: { type: r.subjectType, id: r.subjectId },
      route: r.route,
      start: isoOf(r.start),
      requests: r.requests,
      status: status(r),
      bytes_in: r.bytesIn,
      bytes_out: r.bytesOut,
    })),
    next_cursor: nextCursor,
  });
});
