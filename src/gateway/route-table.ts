// The gateway's route table: GATEWAY_ROUTES in [vars], a JSON array (a TOML array of inline tables
// in wrangler.toml, or the same as a JSON string), parsed and checked once per `env` like the rest
// of the configuration. A bad table is a ConfigError naming the entry (`GATEWAY_ROUTES[2].upstream`),
// so every request answers 500 misconfigured until it is fixed: a gateway that silently skipped a
// route would expose or break exactly the API it was meant to guard.
// One import, with its extension: scripts/preflight.mjs loads this file under Node (type stripping)
// to refuse a deploy whose table the Worker would refuse.
import { ConfigError, ROLE_PATTERN, type Config, type Env } from '../config.ts';

export type RouteAuth = 'required' | 'optional' | 'none';

/** The kinds of caller (services/authenticate.ts SubjectType), kept here: this file has one import. */
export const ROUTE_SUBJECTS = ['user', 'api_key', 'client'] as const;
export type RouteSubject = (typeof ROUTE_SUBJECTS)[number];

export type Upstream =
  | { kind: 'url'; /** origin + base path, no trailing slash */ base: string; /** the `aud` of assertions */ id: string }
  | { kind: 'service'; binding: string; id: string };

export interface GatewayRoute {
  /** The pattern as written: "/app-api/*" (the prefix and everything below it) or an exact path. */
  pattern: string;
  /** The fixed part: "/app-api" for "/app-api/*". */
  prefix: string;
  wildcard: boolean;
  methods: ReadonlySet<string>;
  auth: RouteAuth;
  roles: readonly string[];
  /** The kinds of caller admitted (all by default); another kind with a valid credential gets 403. */
  subjects: readonly RouteSubject[];
  fresh: boolean;
  upstream: Upstream;
  stripPrefix: string;
  maxBodyBytes: number;
  timeoutMs: number;
}

export const VARIABLE = 'GATEWAY_ROUTES';
export const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
/** 100 MiB: Cloudflare's request body limit on the Free and Pro plans. */
export const DEFAULT_MAX_BODY_BYTES = 100 * 1024 * 1024;
/** 500 MiB: the Enterprise default; a larger value could never be reached. */
export const MAX_BODY_BYTES_LIMIT = 500 * 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Time to the upstream's response headers; a stream may then run longer (SSE, downloads). */
export const MAX_TIMEOUT_MS = 300_000;
export const MAX_ROUTES = 64;

/**
 * Paths edge-auth answers itself, the demo SPA's assets (public/) and the SPA pages that mailed
 * links open (public/js/email.js): a route may not cover them. The asset entries mirror every
 * top-level entry of public/ (checked by test-node/gateway-toml.test.mjs); "/" is the SPA itself.
 */
export const RESERVED_PREFIXES = [
  '/auth', '/admin', '/oauth', '/.well-known', '/health', '/api',
  '/css', '/js', '/favicon.svg', '/index.html', '/_headers', '/console', '/docs', '/openapi.json',
  '/verify-email', '/reset-password', '/mailbox',
] as const;

const KEYS = new Set(['path', 'methods', 'auth', 'roles', 'subjects', 'fresh', 'upstream', 'strip_prefix', 'max_body_bytes', 'timeout_ms']);
// RFC 3986 path characters without '%' (no encoded tricks), '*' only as the final "/*".
const PATH = /^(\/[A-Za-z0-9._~!$&'()+,;=:@-]+)+$/;
const BINDING = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** "/a/b" covers "/a/b" and "/a/b/..." only (segment boundary), never "/a/bc". */
export function under(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`);
}

function fail(index: number, field: string | undefined, reason: string): never {
  throw new ConfigError(`${VARIABLE}[${index}]${field ? `.${field}` : ''}`, reason);
}

function parsePattern(i: number, raw: unknown): { pattern: string; prefix: string; wildcard: boolean } {
  if (typeof raw !== 'string') fail(i, 'path', 'must be a string such as "/app-api/*"');
  const wildcard = raw.endsWith('/*');
  const prefix = wildcard ? raw.slice(0, -2) : raw;
  if (!PATH.test(prefix) || prefix.split('/').some((s) => s === '.' || s === '..')) {
    fail(i, 'path', `"${raw}" must be an absolute path of plain segments, optionally ending in "/*"`);
  }
  for (const own of RESERVED_PREFIXES) {
    // Overlap either way: "/auth/x" lies under "/auth"; "/css" wildcard... and "/*"-like prefixes cover them.
    if (under(prefix, own) || (wildcard && under(own, prefix))) {
      fail(i, 'path', `"${raw}" would shadow edge-auth's own path ${own}`);
    }
  }
  return { pattern: raw, prefix, wildcard };
}

function parseUpstream(i: number, raw: unknown, env: Env, config: Config): Upstream {
  if (typeof raw !== 'string' || raw === '') fail(i, 'upstream', 'must be an https:// URL or "service:BINDING"');
  if (raw.startsWith('service:')) {
    const binding = raw.slice('service:'.length);
    if (!BINDING.test(binding)) fail(i, 'upstream', `"${raw}": the binding name is not valid`);
    const target = (env as unknown as Record<string, unknown>)[binding] as { fetch?: unknown } | undefined;
    if (typeof target?.fetch !== 'function') {
      fail(i, 'upstream', `"${raw}": no service binding ${binding} (add [[services]] binding = "${binding}" to this environment)`);
    }
    return { kind: 'service', binding, id: raw };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    fail(i, 'upstream', `"${raw}" is not a URL`);
  }
  if (url.username || url.password) fail(i, 'upstream', 'must not carry credentials');
  if (url.search || url.hash || raw.includes('?') || raw.includes('#')) fail(i, 'upstream', 'must not have a query or fragment');
  const dev = config.environment === 'development';
  if (url.protocol === 'http:') {
    if (!dev) fail(i, 'upstream', `http:// is allowed only when ENVIRONMENT=development (ENVIRONMENT=${config.environment})`);
  } else if (url.protocol !== 'https:') {
    fail(i, 'upstream', 'must be an https:// URL or "service:BINDING"');
  }
  if (!dev && LOOPBACK.has(url.hostname)) fail(i, 'upstream', `a loopback address is allowed only when ENVIRONMENT=development`);
  const base = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  return { kind: 'url', base, id: base };
}

function bounded(i: number, field: string, raw: unknown, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < min || raw > max) {
    fail(i, field, `must be a whole number between ${min} and ${max}`);
  }
  return raw;
}

function parseRoute(i: number, raw: unknown, env: Env, config: Config): GatewayRoute {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(i, undefined, 'must be an object');
  const entry = raw as Record<string, unknown>;
  for (const key of Object.keys(entry)) if (!KEYS.has(key)) fail(i, key, `unknown field (known: ${[...KEYS].join(', ')})`);

  const { pattern, prefix, wildcard } = parsePattern(i, entry.path);

  let methods: ReadonlySet<string> = new Set(ALL_METHODS);
  if (entry.methods !== undefined) {
    if (!Array.isArray(entry.methods) || entry.methods.length === 0) fail(i, 'methods', 'must be a non-empty list');
    const list = entry.methods.map((m) => (typeof m === 'string' ? m.toUpperCase() : ''));
    for (const m of list) if (!(ALL_METHODS as readonly string[]).includes(m)) fail(i, 'methods', `must be among ${ALL_METHODS.join(', ')}`);
    methods = new Set(list);
  }

  const auth = entry.auth ?? 'required'; // the safe default: forgetting the field never opens a route
  if (auth !== 'required' && auth !== 'optional' && auth !== 'none') fail(i, 'auth', 'must be required, optional or none');

  let roles: string[] = [];
  if (entry.roles !== undefined) {
    if (!Array.isArray(entry.roles) || !entry.roles.every((r) => typeof r === 'string' && ROLE_PATTERN.test(r))) {
      fail(i, 'roles', 'must be a list of role names');
    }
    roles = entry.roles as string[];
  }
  if (roles.length > 0 && auth !== 'required') fail(i, 'roles', 'roles need auth = "required"');

  let subjects: readonly RouteSubject[] = ROUTE_SUBJECTS;
  if (entry.subjects !== undefined) {
    const list = entry.subjects;
    if (!Array.isArray(list) || list.length === 0 || !list.every((s) => (ROUTE_SUBJECTS as readonly unknown[]).includes(s))) {
      fail(i, 'subjects', `must be a non-empty list among ${ROUTE_SUBJECTS.join(', ')}`);
    }
    if (auth === 'none') fail(i, 'subjects', 'subjects need auth = "required" or "optional"');
    subjects = [...new Set(list as RouteSubject[])];
  }

  if (entry.fresh !== undefined && typeof entry.fresh !== 'boolean') fail(i, 'fresh', 'must be true or false');
  const fresh = entry.fresh === true;
  if (fresh && auth === 'none') fail(i, 'fresh', 'fresh needs auth = "required" or "optional"');

  const upstream = parseUpstream(i, entry.upstream, env, config);

  let stripPrefix = '';
  if (entry.strip_prefix !== undefined) {
    if (typeof entry.strip_prefix !== 'string' || !PATH.test(entry.strip_prefix) || !under(prefix, entry.strip_prefix)) {
      fail(i, 'strip_prefix', `must be a leading part of the path (segment by segment), such as "${prefix}"`);
    }
    stripPrefix = entry.strip_prefix;
  }

  return {
    pattern,
    prefix,
    wildcard,
    methods,
    auth,
    roles,
    subjects,
    fresh,
    upstream,
    stripPrefix,
    maxBodyBytes: bounded(i, 'max_body_bytes', entry.max_body_bytes, DEFAULT_MAX_BODY_BYTES, 0, MAX_BODY_BYTES_LIMIT),
    timeoutMs: bounded(i, 'timeout_ms', entry.timeout_ms, DEFAULT_TIMEOUT_MS, 1, MAX_TIMEOUT_MS),
  };
}

/** The checked table; `[]` when the variable is unset. `env` is needed to see service bindings. */
export function parseRouteTable(env: Env, config: Config): GatewayRoute[] {
  let raw: unknown = env.GATEWAY_ROUTES;
  if (raw === undefined || raw === '') return [];
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw);
    } catch {
      throw new ConfigError(VARIABLE, 'is not valid JSON');
    }
  }
  if (!Array.isArray(raw)) throw new ConfigError(VARIABLE, 'must be a list of routes');
  if (raw.length > MAX_ROUTES) throw new ConfigError(VARIABLE, `has more than ${MAX_ROUTES} routes`);
  return raw.map((entry, i) => parseRoute(i, entry, env, config));
}

const tables = new WeakMap<Env, GatewayRoute[]>();

/** The table of this `env`, parsed once (env objects live as long as the isolate). */
export function getRouteTable(env: Env, config: Config): GatewayRoute[] {
  let table = tables.get(env);
  if (!table) tables.set(env, (table = parseRouteTable(env, config)));
  return table;
}

export type RouteMatch = { route: GatewayRoute } | { methodNotAllowed: string[] } | undefined;

/**
 * The first route covering the path and allowing the method wins. A path that routes cover, but
 * none for this method, is 405 with the methods they allow (never a fall-through to edge-auth).
 */
export function matchRoute(table: readonly GatewayRoute[], path: string, method: string): RouteMatch {
  let allowed: Set<string> | undefined;
  for (const route of table) {
    if (route.wildcard ? !under(path, route.prefix) : path !== route.prefix) continue;
    if (route.methods.has(method)) return { route };
    allowed ??= new Set();
    for (const m of route.methods) allowed.add(m);
  }
  return allowed ? { methodNotAllowed: [...allowed] } : undefined;
}
