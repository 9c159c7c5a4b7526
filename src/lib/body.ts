// JSON request bodies: content type, size (enforced by hono's bodyLimit in app.ts), syntax and
// shape, each failure a 4xx with a stable code. Unknown fields are refused (strict objects).
import type { Context } from 'hono';
import type * as z from 'zod/mini';
import { AppError } from '../errors';

/** Every JSON body this service accepts fits in 16 KiB (passwords are capped at 1 KiB). */
export const MAX_BODY_BYTES = 16 * 1024;
/** Every accepted body is one flat object (depth 1); deeper nesting is refused before parsing. */
export const MAX_JSON_DEPTH = 8;

/** Whether the JSON text nests arrays/objects deeper than `max`, outside strings. Linear, no parsing. */
export function jsonTooDeep(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) {
      inString = true;
    } else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > max) return true;
    } else if (ch === 0x5d || ch === 0x7d) {
      depth--;
    }
  }
  return false;
}

function isJson(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const [type] = contentType.split(';');
  return type!.trim().toLowerCase() === 'application/json';
}

/** The first issue, in words (shared with query-string validation in lib/query.ts). */
export function describe(error: z.core.$ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'The request body is not valid.';
  // Field names are echoed (never values), a few and shortened: the message stays small.
  if (issue.code === 'unrecognized_keys') {
    const shown = issue.keys.slice(0, 3).map((k) => JSON.stringify(k.slice(0, 32)));
    return `Unknown field${issue.keys.length > 1 ? 's' : ''}: ${shown.join(', ')}${issue.keys.length > 3 ? ', ...' : ''}.`;
  }
  const path = issue.path.map(String).join('.').slice(0, 64);
  if (issue.code === 'invalid_type' && issue.input === undefined) return `${path} is required.`;
  return path && !issue.message.startsWith(path) ? `${path}: ${issue.message}` : issue.message;
}

export async function readJson<T extends z.ZodMiniType>(c: Context, schema: T, options: { optional?: boolean } = {}): Promise<z.output<T>> {
  const contentType = c.req.header('Content-Type');
  if (!isJson(contentType)) {
    // An optional body may be left out entirely; anything else must be JSON.
    if (options.optional && contentType === undefined && (await c.req.text()).length === 0) return parse(schema, {});
    throw new AppError('unsupported_media_type');
  }
  const raw = await c.req.text();
  if (raw.length === 0 && options.optional) return parse(schema, {});
  if (jsonTooDeep(raw, MAX_JSON_DEPTH)) throw new AppError('invalid_request', 'The request body is nested too deeply.');
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new AppError('invalid_json');
  }
  return parse(schema, value);
}

function parse<T extends z.ZodMiniType>(schema: T, value: unknown): z.output<T> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AppError('invalid_request', 'The request body must be a JSON object.');
  }
  const result = schema.safeParse(value);
  if (!result.success) throw new AppError('invalid_request', describe(result.error));
  return result.data;
}
