// /auth/usage and /admin/usage: the usage read API (docs/usage.md).
import * as z from 'zod/mini';
import * as routes from '../../usage/routes';
import { ERRORS, errors, op } from '../spec';

const counts = {
  requests: z.int(),
  status: z.strictObject({ '2xx': z.int(), '3xx': z.int(), '4xx': z.int(), '5xx': z.int() }),
  bytes_in: z.int(),
  bytes_out: z.int(),
};
const subject = z.strictObject({ type: z.enum(['user', 'api_key', 'client']), id: z.string() });

export const usageOperations = [
  op({
    method: 'get',
    path: '/auth/usage',
    operationId: 'ownUsage',
    tag: 'Usage',
    summary: 'The caller’s own usage, per route and hour or day',
    description: 'Any authenticated subject (a user, an API key, an OAuth client) sees its own counts. Default: the last 24 hours by hour. Counts lag by at most the meter’s flush interval.',
    security: ['bearer', 'cookie', 'apiKey', 'clientToken'],
    query: routes.UsageQuery,
    responses: {
      200: {
        description: 'Buckets per route, and totals',
        schema: z.strictObject({
          subject,
          granularity: z.enum(['hour', 'day']),
          from: z.string(),
          to: z.string(),
          totals: z.strictObject({ requests: z.int(), bytes_in: z.int(), bytes_out: z.int() }),
          buckets: z.array(z.strictObject({ start: z.string(), route: z.string(), ...counts })),
        }),
      },
    },
    errors: errors(ERRORS.auth, ERRORS.query),
  }),
  op({
    method: 'get',
    path: '/admin/usage',
    operationId: 'adminUsage',
    tag: 'Usage',
    summary: 'Every subject’s usage, filtered, cursor-paginated; JSON or CSV',
    description: 'CSV with `format=csv` or `Accept: text/csv` (the next page’s cursor in `X-Next-Cursor`). Cells starting with a formula character are neutralised.',
    security: ['bearer', 'cookie'],
    roles: ['admin'],
    query: routes.AdminUsageQuery,
    responses: {
      200: {
        description: 'A page of rows',
        schema: z.strictObject({
          rows: z.array(z.strictObject({ subject, route: z.string(), start: z.string(), ...counts })),
          next_cursor: z.nullable(z.string()),
        }),
        alternatives: { 'text/csv': 'subject_type,subject_id,route,start,requests,status_2xx,status_3xx,status_4xx,status_5xx,bytes_in,bytes_out' },
      },
    },
    errors: errors(ERRORS.admin, ERRORS.query),
  }),
];
