import type { Context } from 'hono';
import { parseClientIp } from './client-ip';

export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
  requestId: string;
}

const MAX_UA = 256;

/**
 * Who is asking, as far as the edge tells us. These end up in D1 and in /auth/sessions: the
 * address only when it is an IP literal, the user agent truncated and without control characters.
 */
export function requestMeta(c: Context): RequestMeta {
  const ip = parseClientIp(c.req.header('CF-Connecting-IP'));
  const userAgent = c.req.header('User-Agent')?.slice(0, MAX_UA).replace(/[\u0000-\u001f\u007f]/g, '') || null;
  return { ip, userAgent, requestId: c.get('requestId') as string };
}
