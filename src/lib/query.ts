// Query strings, validated like bodies: a strict zod object over the parameters, each given at most
// once; unknown or repeated parameters are a 400, never silently ignored.
import type { Context } from 'hono';
import * as z from 'zod/mini';
import { AppError } from '../errors';
import { describe } from './body';

export function readQuery<T extends z.ZodMiniType>(c: Context, schema: T): z.output<T> {
  const single: Record<string, string> = {};
  for (const [name, values] of Object.entries(c.req.queries())) {
    if (values.length !== 1) throw new AppError('invalid_request', `${name.slice(0, 64)} must be given once.`);
    single[name] = values[0]!;
  }
  const result = schema.safeParse(single);
  if (!result.success) throw new AppError('invalid_request', describe(result.error));
  return result.data;
}

/** `limit` of a paginated list: default 50, at most 200. */
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;
export const pageSize = z.pipe(
  z.optional(
    z
      .pipe(z.string().check(z.regex(/^\d{1,4}$/, 'limit must be a whole number')), z.transform(Number))
      .check(z.refine((n) => n >= 1 && n <= MAX_PAGE_SIZE, { message: `limit must be between 1 and ${MAX_PAGE_SIZE}` })),
  ),
  z.transform((n: number | undefined) => n ?? DEFAULT_PAGE_SIZE),
);

/** A Unix time in seconds. */
export const unixSeconds = (name: string) => z.pipe(z.string().check(z.regex(/^\d{1,12}$/, `${name} must be a Unix time in seconds`)), z.transform(Number));
