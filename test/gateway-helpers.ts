// Shared by the gateway tests (test/gateway*.test.ts): the route table they run with, a client for
// it, and the upstream Worker's echo (test/gateway-upstream.js, bound as UPSTREAM).
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { drizzle } from 'drizzle-orm/d1';
import { eq } from 'drizzle-orm';
import { env } from 'cloudflare:workers';
import { expect } from 'vitest';
import { users } from '../src/db/schema';
import { ASSERTION_TYPE } from '../src/gateway/assertion';
import { Client, testEnv, uniqueName } from './helpers';

export const ROUTES = [
  { path: '/svc/open/*', auth: 'none', upstream: 'service:UPSTREAM', strip_prefix: '/svc/open' },
  { path: '/svc/maybe/*', auth: 'optional', upstream: 'service:UPSTREAM', strip_prefix: '/svc/maybe' },
  { path: '/svc/admin/*', roles: ['admin', 'ops'], upstream: 'service:UPSTREAM', strip_prefix: '/svc' },
  { path: '/svc/fresh/*', roles: ['admin'], fresh: true, upstream: 'service:UPSTREAM', strip_prefix: '/svc' },
  { path: '/svc/people/*', subjects: ['user'], upstream: 'service:UPSTREAM', strip_prefix: '/svc' },
  { path: '/svc/people-maybe/*', auth: 'optional', subjects: ['user'], upstream: 'service:UPSTREAM', strip_prefix: '/svc' },
  { path: '/svc/get-only', methods: ['GET'], upstream: 'service:UPSTREAM' },
  { path: '/ro/*', methods: ['GET', 'HEAD'], upstream: 'service:UPSTREAM' },
  { path: '/svc/small/*', max_body_bytes: 16, upstream: 'service:UPSTREAM', strip_prefix: '/svc/small' },
  { path: '/svc/quick/*', timeout_ms: 500, upstream: 'service:UPSTREAM', strip_prefix: '/svc/quick' },
  { path: '/svc/broken/*', upstream: 'service:BROKEN' },
  { path: '/svc/down/*', upstream: 'http://127.0.0.1:1' },
  { path: '/svc/*', upstream: 'service:UPSTREAM', strip_prefix: '/svc' },
];

export const ORIGIN = 'http://localhost'; // the test requests' own origin

export interface Echo {
  method: string;
  url: string;
  path: string;
  search: string;
  headers: Record<string, string>;
  bodyLength: number | null;
  bodySha256: string | null;
}

export function gatewayClient(): Client {
  return new Client(testEnv({ GATEWAY_ROUTES: ROUTES }));
}

export async function echo(res: Response): Promise<Echo> {
  expect(res.status, await res.clone().text()).toBe(200);
  expect(res.headers.get('X-Upstream')).toBe('echo');
  return (await res.json()) as Echo;
}

export async function setRoles(c: Client, id: string, roles: string[]): Promise<void> {
  await drizzle(c.env.DB).update(users).set({ roles: JSON.stringify(roles) }).where(eq(users.id, id)).run();
}

/** A user holding `roles`, logged in (bearer). */
export async function userWith(c: Client, roles: string[]) {
  const { id, username, password } = await c.register();
  if (roles.length > 0) await setRoles(c, id, roles);
  return { id, username, ...(await c.login(username, password)) };
}

/** A cookie-mode session: the Cookie header a browser would send to `/`, and the CSRF token. */
export async function cookieSession(c: Client): Promise<{ cookie: string; csrf: string; id: string }> {
  const { id, username, password } = await c.register(uniqueName('gw'));
  const res = await c.request('POST', '/auth/login', { json: { username, password, mode: 'cookie' }, headers: { Origin: ORIGIN } });
  expect(res.status).toBe(200);
  const jar = new Map(res.headers.getSetCookie().map((line) => {
    const pair = line.split(';', 1)[0]!;
    return [pair.slice(0, pair.indexOf('=')), pair] as const;
  }));
  return { cookie: [jar.get('__Host-edge_access'), jar.get('__Host-edge_csrf')].join('; '), csrf: jar.get('__Host-edge_csrf')!.split('=')[1]!, id };
}

export async function recorded(): Promise<string[]> {
  return (await (await env.UPSTREAM.fetch('http://upstream/__recorded')).json()) as string[];
}

export async function verifyAssertion(c: Client, assertion: string, audience: string) {
  const jwks = (await (await c.request('GET', '/.well-known/jwks.json')).json()) as JSONWebKeySet;
  return jwtVerify(assertion, createLocalJWKSet(jwks), { issuer: c.config.issuer, audience, typ: ASSERTION_TYPE, currentDate: new Date(c.clock.seconds * 1000) });
}

