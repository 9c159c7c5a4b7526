import type { Context } from 'hono';

export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
  requestId: string;
}

const MAX_UA = 256;
const MAX_IP = 64;

/** Who is asking, as far as the edge tells us. Values are truncated: they end up in D1. */
export function requestMeta(c: Context): RequestMeta {
  const ip = c.req.header('CF-Connecting-IP')?.slice(0, MAX_IP) ?? null;
  const userAgent = c.req.header('User-Agent')?.slice(0, MAX_UA) ?? null;
  return { ip, userAgent, requestId: c.get('requestId') as string };
}
