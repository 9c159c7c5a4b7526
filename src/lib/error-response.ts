import type { Context } from 'hono';
import { AppError } from '../errors';

/** The one place an AppError becomes an HTTP response: `{error, message}` plus its headers. */
export function errorResponse(c: Context, err: AppError): Response {
  for (const [name, value] of Object.entries(err.headers)) c.header(name, value);
  c.header('Cache-Control', 'no-store');
  return c.json(err.toJSON(), err.status);
}
