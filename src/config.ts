// env -> typed, validated configuration. Parsed once per `env` object (per isolate in
// production); a bad value is a ConfigError naming the variable, never a silent default.
//
// Outside development (ENVIRONMENT unset, "staging" or "production") the checks are strict: an
// http:// or loopback issuer, a defaulted audience, http:// or wildcard origins and unreplaced
// REPLACE_WITH_ placeholders are refused, so a deployment is either secure or refuses to serve.
//
// This file has no imports on purpose: scripts/deploy.mjs loads it under Node (type stripping) to
// run the same checks on an environment's vars before deploying. Keep it that way.

/** Documented role alphabet: 1 to 32 characters, a lower-case letter first, then a-z, 0-9, '_', ':' or '-'. */
export const ROLE_PATTERN = /^[a-z][a-z0-9_:-]{0,31}$/;

export type JwtAlg = 'HS256' | 'ES256';

/** Where this Worker runs. Only "development" relaxes the checks, and it must be said explicitly. */
export type Environment = 'development' | 'staging' | 'production';

export interface Env {
  DB: D1Database;
  KV: KVNamespace;
  /** [[ratelimits]] bindings (wrangler.toml). Optional in the type, required to serve the routes they guard. */
  RL_LOGIN_IP?: RateLimit;
  RL_LOGIN_USER?: RateLimit;
  RL_REGISTER_IP?: RateLimit;
  RL_REFRESH_IP?: RateLimit;
  /** Every route that sends mail, per client address and per destination address (docs/email.md). */
  RL_EMAIL_IP?: RateLimit;
  RL_EMAIL_ADDRESS?: RateLimit;
  /** Cloudflare Email Service ([[send_email]] name = "EMAIL"): required to serve the routes that send mail. */
  EMAIL?: SendEmail;
  ENVIRONMENT?: string;
  JWT_ALG?: string;
  JWT_ISSUER?: string;
  JWT_AUDIENCE?: string;
  ACCESS_TOKEN_TTL?: string;
  REFRESH_TOKEN_TTL?: string;
  SESSION_MAX_AGE?: string;
  REFRESH_REUSE_GRACE?: string;
  CLOCK_LEEWAY?: string;
  REGISTRATION?: string;
  ALLOWED_ORIGINS?: string;
  AUDIT_RETENTION_DAYS?: string;
  /** The gateway's route table (src/gateway/route-table.ts): a JSON array, or its text. */
  GATEWAY_ROUTES?: unknown;
  WEBAUTHN_RP_ID?: string;
  WEBAUTHN_RP_NAME?: string;
  WEBAUTHN_ORIGINS?: string;
  REQUIRE_MFA_FOR_ADMINS?: string;
  APP_URL?: string;
  APP_NAME?: string;
  MAIL_FROM?: string;
  EMAIL_TOKEN_TTL?: string;
  REQUIRE_VERIFIED_EMAIL?: string;
  /** Usage metering and quotas (docs/usage.md). */
  USAGE_METERING?: string;
  USAGE_FLUSH_SECONDS?: string;
  USAGE_FLUSH_EVENTS?: string;
  USAGE_RETENTION_DAYS?: string;
  /** Quota tiers: a JSON object (a TOML inline table in wrangler.toml, or the same as JSON text). */
  USAGE_QUOTAS?: unknown;
  /** Optional Workers Analytics Engine dataset: one data point per counted request. */
  USAGE_ANALYTICS?: { writeDataPoint(point: { indexes?: string[]; blobs?: string[]; doubles?: number[] }): void };
  JWT_SECRET?: string;
  KEY_ENCRYPTION_KEY?: string;
}

export interface Config {
  environment: Environment;
  alg: JwtAlg;
  issuer: string;
  /** Audiences accepted on verify; the first one is put into issued tokens. */
  audience: string[];
  accessTtl: number;
  refreshTtl: number;
  sessionMaxAge: number;
  reuseGrace: number;
  leeway: number;
  registrationOpen: boolean;
  allowedOrigins: string[];
  /** Audit rows older than this many days are deleted by the scheduled clean-up. */
  auditRetentionDays: number;
  /** Passkeys (docs/mfa.md): the RP ID credentials are scoped to, its display name, the page origins accepted. */
  webauthn: { rpId: string; rpName: string; origins: string[] };
  /** The admin API refuses administrators whose sign-in had no second factor (403 mfa_required). */
  requireMfaForAdmins: boolean;
  /** Account mail (docs/email.md): link base, product name, sender, token lifetime, login rule. */
  email: { appUrl: string; appName: string; from: string; tokenTtl: number; requireVerified: boolean };
  /** Usage metering and quotas (src/usage, docs/usage.md). */
  usage: UsageConfig;
  /** HS256 key material from the JWT_SECRET secret, when set. */
  jwtSecret: string | undefined;
  keyEncryptionKey: string;
}

export interface QuotaTier {
  name: string;
  /** Requests per minute, enforced by the [[ratelimits]] binding `binding` (whose limit it must equal). */
  perMinute?: { limit: number; binding: string };
  /** Requests per UTC day, enforced from the usage counters. */
  perDay?: number;
}

export interface UsageConfig {
  metering: boolean;
  /** The meter flushes at most this often... */
  flushSeconds: number;
  /** ...or once this many requests are pending, whichever comes first. */
  flushEvents: number;
  retentionDays: number;
  quotas: {
    tiers: Map<string, QuotaTier>;
    /** "api_key:<id>" / "client:<id>" / "user:<id>" -> tier: decides first. */
    subjects: Map<string, QuotaTier>;
    /** Role -> tier, in the order written: the first role the caller holds decides. */
    roles: [string, QuotaTier][];
    /** Everyone else (none: no quota). */
    fallback: QuotaTier | undefined;
  };
}

export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, reason: string) {
    super(`${variable}: ${reason}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

/** Upper bounds of ACCESS_TOKEN_TTL and CLOCK_LEEWAY: the longest any access token can live,
 * whatever a deployment sets (scripts/user-create.ts revokes for that long). */
export const ACCESS_TOKEN_TTL_MAX = 86_400;
export const CLOCK_LEEWAY_MAX = 300;

/** Secrets shorter than this are refused: 32 bytes is the HS256 key size (RFC 7518 section 3.2). */
export const MIN_SECRET_LENGTH = 32;
/**
 * A secret with fewer distinct characters than this is refused as not random ("aaaa...",
 * "changeme-changeme-..."); 32 random base64 characters have about 23 distinct ones.
 */
export const MIN_SECRET_DISTINCT_CHARS = 10;
/** wrangler.toml marks every value a deployer must fill in with this prefix. */
export const PLACEHOLDER_MARK = 'REPLACE_WITH_';
/** ENVIRONMENT when unset: the strict one, so forgetting the variable can never weaken the service. */
export const DEFAULT_ENVIRONMENT: Environment = 'production';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The plain-text settings, checked for placeholders outside development. */
const SETTINGS = [
  'JWT_ALG',
  'JWT_ISSUER',
  'JWT_AUDIENCE',
  'ACCESS_TOKEN_TTL',
  'REFRESH_TOKEN_TTL',
  'SESSION_MAX_AGE',
  'REFRESH_REUSE_GRACE',
  'CLOCK_LEEWAY',
  'REGISTRATION',
  'ALLOWED_ORIGINS',
  'AUDIT_RETENTION_DAYS',
  'WEBAUTHN_RP_ID',
  'WEBAUTHN_RP_NAME',
  'WEBAUTHN_ORIGINS',
  'REQUIRE_MFA_FOR_ADMINS',
  'APP_URL',
  'APP_NAME',
  'MAIL_FROM',
  'EMAIL_TOKEN_TTL',
  'REQUIRE_VERIFIED_EMAIL',
  'USAGE_METERING',
  'USAGE_FLUSH_SECONDS',
  'USAGE_FLUSH_EVENTS',
  'USAGE_RETENTION_DAYS',
] as const satisfies readonly (keyof Env)[];

function int(env: Env, name: keyof Env, fallback: number, min: number, max: number, unit = 'seconds'): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (typeof raw !== 'string' || !/^\d+$/.test(raw.trim())) {
    throw new ConfigError(name, `must be a whole number of ${unit}`);
  }
  const value = Number(raw.trim());
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}`);
  return value;
}

function parseUrl(name: string, value: string): URL {
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme');
    return url;
  } catch {
    throw new ConfigError(name, `"${value}" is not an http(s) URL`);
  }
}

function environmentOf(env: Env): Environment {
  const raw = env.ENVIRONMENT?.trim();
  if (raw === undefined || raw === '') return DEFAULT_ENVIRONMENT;
  if (raw === 'development' || raw === 'staging' || raw === 'production') return raw;
  throw new ConfigError('ENVIRONMENT', 'must be development, staging or production');
}

function secret(env: Env, name: 'JWT_SECRET' | 'KEY_ENCRYPTION_KEY', required: boolean): string | undefined {
  const value = env[name];
  if (value === undefined || value === '') {
    if (required) throw new ConfigError(name, `must be set to at least ${MIN_SECRET_LENGTH} characters of random data`);
    return undefined;
  }
  // Never echo the value: only what is wrong with it.
  if (value.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(name, `must be at least ${MIN_SECRET_LENGTH} characters of random data`);
  }
  if (new Set(value).size < MIN_SECRET_DISTINCT_CHARS || value.includes(PLACEHOLDER_MARK)) {
    throw new ConfigError(name, 'does not look random; generate it with `openssl rand -base64 48`');
  }
  return value;
}

export function parseConfig(env: Env): Config {
  const environment = environmentOf(env);
  const strict = environment !== 'development';
  const why = `ENVIRONMENT=${environment}`; // appended to strict refusals, so the fix is obvious

  if (strict) {
    for (const name of SETTINGS) {
      if (env[name]?.includes(PLACEHOLDER_MARK)) {
        throw new ConfigError(name, `still holds a ${PLACEHOLDER_MARK}... placeholder from wrangler.toml`);
      }
    }
  }

  const alg = (env.JWT_ALG ?? 'ES256').trim();
  if (alg !== 'HS256' && alg !== 'ES256') throw new ConfigError('JWT_ALG', 'must be HS256 or ES256');

  const issuerRaw = env.JWT_ISSUER?.trim();
  if (strict && !issuerRaw) throw new ConfigError('JWT_ISSUER', `must be set to the service's public https:// URL (${why})`);
  const issuer = issuerRaw || 'http://localhost:8787';
  const issuerUrl = parseUrl('JWT_ISSUER', issuer); // validates the scheme; the issuer itself is kept verbatim
  if (strict && issuerUrl.protocol !== 'https:') {
    throw new ConfigError('JWT_ISSUER', `must be an https:// URL outside development (${why})`);
  }
  if (strict && LOOPBACK_HOSTS.has(issuerUrl.hostname)) {
    throw new ConfigError('JWT_ISSUER', `must be the service's public URL, not a loopback address (${why})`);
  }

  // A defaulted audience would be shared by every deployment that forgot to set it.
  if (strict && env.JWT_AUDIENCE === undefined) {
    throw new ConfigError('JWT_AUDIENCE', `must be set explicitly (${why})`);
  }
  const audience = (env.JWT_AUDIENCE ?? 'edge-auth').split(',').map((s) => s.trim()).filter(Boolean);
  if (audience.length === 0) throw new ConfigError('JWT_AUDIENCE', 'must not be empty');

  const accessTtl = int(env, 'ACCESS_TOKEN_TTL', 900, 1, ACCESS_TOKEN_TTL_MAX);
  const refreshTtl = int(env, 'REFRESH_TOKEN_TTL', 1_209_600, 60, 31_536_000);
  const sessionMaxAge = int(env, 'SESSION_MAX_AGE', 2_592_000, 60, 31_536_000);
  const reuseGrace = int(env, 'REFRESH_REUSE_GRACE', 10, 0, 300);
  const leeway = int(env, 'CLOCK_LEEWAY', 30, 0, CLOCK_LEEWAY_MAX);
  const auditRetentionDays = int(env, 'AUDIT_RETENTION_DAYS', 90, 1, 3650, 'days');

  const registration = (env.REGISTRATION ?? 'open').trim();
  if (registration !== 'open' && registration !== 'closed') {
    throw new ConfigError('REGISTRATION', 'must be open or closed');
  }

  // Cookie mode is always on and CORS allows credentials: a wildcard would hand every site the
  // user's session, and an http:// origin would hand it to anyone on the network path.
  const originsRaw = (env.ALLOWED_ORIGINS ?? '').trim();
  const allowedOrigins = originsRaw
    ? originsRaw.split(',').map((s) => s.trim()).filter(Boolean).map((o) => {
        if (o.includes('*')) throw new ConfigError('ALLOWED_ORIGINS', 'wildcards are not allowed with cookie mode; list each origin');
        if (o === 'null') throw new ConfigError('ALLOWED_ORIGINS', '"null" is not an origin that can be trusted');
        const url = parseUrl('ALLOWED_ORIGINS', o);
        if (strict && url.protocol !== 'https:') {
          throw new ConfigError('ALLOWED_ORIGINS', `"${o}" must be https:// outside development (${why})`);
        }
        return url.origin;
      })
    : [issuerUrl.origin];

  const webauthn = parseWebauthn(env, issuerUrl, allowedOrigins, strict, why);
  const requireMfaRaw = (env.REQUIRE_MFA_FOR_ADMINS ?? 'false').trim() || 'false';
  if (requireMfaRaw !== 'true' && requireMfaRaw !== 'false') throw new ConfigError('REQUIRE_MFA_FOR_ADMINS', 'must be true or false');

  const email = parseEmail(env, issuerUrl, strict, why);

  const jwtSecret = secret(env, 'JWT_SECRET', false);
  const keyEncryptionKey = secret(env, 'KEY_ENCRYPTION_KEY', true)!;
  if (jwtSecret !== undefined && jwtSecret === keyEncryptionKey) {
    throw new ConfigError('JWT_SECRET', 'must differ from KEY_ENCRYPTION_KEY (one secret, one purpose)');
  }

  return {
    environment,
    alg,
    issuer,
    audience,
    accessTtl,
    refreshTtl,
    sessionMaxAge,
    reuseGrace,
    leeway,
    registrationOpen: registration === 'open',
    allowedOrigins,
    auditRetentionDays,
    webauthn,
    requireMfaForAdmins: requireMfaRaw === 'true',
    email,
    usage: parseUsage(env),
    jwtSecret,
    keyEncryptionKey,
  } satisfies Config;
}

/** Bounds of EMAIL_TOKEN_TTL: long enough to open a mail, short enough that a leaked link dies. */
export const EMAIL_TOKEN_TTL_MIN = 300;
export const EMAIL_TOKEN_TTL_MAX = 86_400;
// A plain addr-spec without a display name: it goes into the binding's `from` as is.
const MAIL_FROM_PATTERN = /^[^\s@<>"(),;:]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$|^[^\s@<>"(),;:]+@localhost$/;

/**
 * Mail settings. Links point to APP_URL (the SPA; the issuer's origin when unset), which must be
 * https:// and public outside development, since the link carries a credential. MAIL_FROM defaults to
 * no-reply@ the issuer's host; production needs it on a domain onboarded to Email Service.
 */
function parseEmail(env: Env, issuerUrl: URL, strict: boolean, why: string): Config['email'] {
  const appRaw = (env.APP_URL ?? '').trim();
  const appUrl = appRaw ? parseUrl('APP_URL', appRaw) : new URL(issuerUrl.origin);
  if (appRaw && (appUrl.search || appUrl.hash)) throw new ConfigError('APP_URL', 'must not carry a query or fragment');
  if (strict && appUrl.protocol !== 'https:') throw new ConfigError('APP_URL', `must be an https:// URL outside development (${why})`);
  if (strict && LOOPBACK_HOSTS.has(appUrl.hostname)) throw new ConfigError('APP_URL', `must be the SPA's public URL, not a loopback address (${why})`);
  const appName = (env.APP_NAME ?? '').trim() || 'edge-auth';
  if (appName.length > 64 || /[\u0000-\u001f\u007f]/.test(appName)) throw new ConfigError('APP_NAME', 'must be at most 64 characters, without control characters');
  const from = (env.MAIL_FROM ?? '').trim() || `no-reply@${issuerUrl.hostname}`;
  if (!MAIL_FROM_PATTERN.test(from)) throw new ConfigError('MAIL_FROM', `"${from}" must be a plain address (name@domain)`);
  const tokenTtl = int(env, 'EMAIL_TOKEN_TTL', 1800, EMAIL_TOKEN_TTL_MIN, EMAIL_TOKEN_TTL_MAX);
  const requireRaw = (env.REQUIRE_VERIFIED_EMAIL ?? 'false').trim() || 'false';
  if (requireRaw !== 'true' && requireRaw !== 'false') throw new ConfigError('REQUIRE_VERIFIED_EMAIL', 'must be true or false');
  // Links are built by appending a path: keep the base without a trailing slash.
  return { appUrl: appUrl.href.replace(/\/+$/, ''), appName, from, tokenTtl, requireVerified: requireRaw === 'true' };
}

const QUOTA_VARIABLE = 'USAGE_QUOTAS';
const TIER_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const BINDING_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;
const QUOTA_SUBJECT = /^(user|api_key|client):[A-Za-z0-9._~-]{1,128}$/;
const QUOTA_ROLE = /^[a-z][a-z0-9_-]{0,31}$/;
/** The per-minute limit's window: every [[ratelimits]] binding of a tier has `period = 60`. */
export const QUOTA_MINUTE_SECONDS = 60;

function record(name: string, raw: unknown): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(name, 'must be an object');
  return raw as Record<string, unknown>;
}

function onlyKeys(name: string, value: Record<string, unknown>, keys: string[]): void {
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) throw new ConfigError(name, `unknown key "${key.slice(0, 40)}" (expected ${keys.join(', ')})`);
  }
}

function count(name: string, raw: unknown, max: number): number {
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1 || raw > max) throw new ConfigError(name, `must be a whole number between 1 and ${max}`);
  return raw;
}

/**
 * USAGE_QUOTAS: `{ "tiers": { "<tier>": { "per_minute": n, "binding": "RL_QUOTA_X", "per_day": n } },
 * "default": "<tier>", "roles": { "<role>": "<tier>" }, "subjects": { "api_key:<id>": "<tier>" } }`.
 * Unset or empty: no quotas. A tier without limits is unlimited (for example for administrators).
 */
function parseQuotas(raw: unknown): UsageConfig['quotas'] {
  const none = { tiers: new Map(), subjects: new Map(), roles: [], fallback: undefined };
  if (raw === undefined || (typeof raw === 'string' && raw.trim() === '')) return none;
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      throw new ConfigError(QUOTA_VARIABLE, 'is not valid JSON');
    }
  }
  const top = record(QUOTA_VARIABLE, value);
  onlyKeys(QUOTA_VARIABLE, top, ['tiers', 'default', 'roles', 'subjects']);
  const tiers = new Map<string, QuotaTier>();
  for (const [name, tierRaw] of Object.entries(record(`${QUOTA_VARIABLE}.tiers`, top.tiers ?? {}))) {
    const at = `${QUOTA_VARIABLE}.tiers.${name.slice(0, 40)}`;
    if (!TIER_NAME.test(name)) throw new ConfigError(at, 'a tier name is 1-32 lower-case letters, digits, "_" or "-"');
    const tier = record(at, tierRaw);
    onlyKeys(at, tier, ['per_minute', 'binding', 'per_day']);
    if ((tier.per_minute === undefined) !== (tier.binding === undefined)) {
      throw new ConfigError(at, 'per_minute and binding go together: the [[ratelimits]] binding enforces per_minute (its limit must equal it)');
    }
    let perMinute: QuotaTier['perMinute'];
    if (tier.binding !== undefined) {
      if (typeof tier.binding !== 'string' || !BINDING_NAME.test(tier.binding)) throw new ConfigError(`${at}.binding`, 'must name a [[ratelimits]] binding');
      perMinute = { limit: count(`${at}.per_minute`, tier.per_minute, 1_000_000), binding: tier.binding };
    }
    const perDay = tier.per_day === undefined ? undefined : count(`${at}.per_day`, tier.per_day, 1_000_000_000);
    tiers.set(name, { name, perMinute, perDay });
  }
  const tierOf = (at: string, name: unknown): QuotaTier => {
    const tier = typeof name === 'string' ? tiers.get(name) : undefined;
    if (!tier) throw new ConfigError(at, 'must name a tier defined in tiers');
    return tier;
  };
  const subjects = new Map<string, QuotaTier>();
  for (const [subject, name] of Object.entries(record(`${QUOTA_VARIABLE}.subjects`, top.subjects ?? {}))) {
    const at = `${QUOTA_VARIABLE}.subjects.${subject.slice(0, 80)}`;
    if (!QUOTA_SUBJECT.test(subject)) throw new ConfigError(at, 'a subject is "user:<id>", "api_key:<id>" or "client:<id>"');
    subjects.set(subject, tierOf(at, name));
  }
  const roles: [string, QuotaTier][] = [];
  for (const [role, name] of Object.entries(record(`${QUOTA_VARIABLE}.roles`, top.roles ?? {}))) {
    const at = `${QUOTA_VARIABLE}.roles.${role.slice(0, 40)}`;
    if (!QUOTA_ROLE.test(role)) throw new ConfigError(at, 'is not a role name');
    roles.push([role, tierOf(at, name)]);
  }
  const fallback = top.default === undefined ? undefined : tierOf(`${QUOTA_VARIABLE}.default`, top.default);
  return { tiers, subjects, roles, fallback };
}

function parseUsage(env: Env): UsageConfig {
  const metering = (env.USAGE_METERING ?? 'on').trim() || 'on';
  if (metering !== 'on' && metering !== 'off') throw new ConfigError('USAGE_METERING', 'must be on or off');
  const quotas = parseQuotas(env.USAGE_QUOTAS);
  if (metering === 'off' && [...quotas.tiers.values()].some((t) => t.perDay !== undefined)) {
    throw new ConfigError('USAGE_QUOTAS', 'per_day quotas are counted by the usage meter: they need USAGE_METERING=on');
  }
  return {
    metering: metering === 'on',
    flushSeconds: int(env, 'USAGE_FLUSH_SECONDS', 5, 1, 60),
    flushEvents: int(env, 'USAGE_FLUSH_EVENTS', 500, 1, 10_000, 'requests'),
    retentionDays: int(env, 'USAGE_RETENTION_DAYS', 90, 1, 3650, 'days'),
    quotas,
  };
}

// A registrable domain name (WebAuthn section 5.1.2 "RP ID"): lower-case labels, no scheme or port.
const RP_ID_PATTERN = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/**
 * Passkey settings. The RP ID defaults to the issuer's host name; the origins default to the
 * issuer's and ALLOWED_ORIGINS' origins that are on the RP ID. Origins listed explicitly must be the
 * RP ID or a subdomain of it (browsers refuse any other ceremony): a clear error otherwise.
 */
function parseWebauthn(env: Env, issuerUrl: URL, allowedOrigins: string[], strict: boolean, why: string): Config['webauthn'] {
  const rpId = (env.WEBAUTHN_RP_ID ?? '').trim() || issuerUrl.hostname;
  if (!RP_ID_PATTERN.test(rpId)) throw new ConfigError('WEBAUTHN_RP_ID', `"${rpId}" must be a domain name (no scheme, port or path)`);
  const rpName = (env.WEBAUTHN_RP_NAME ?? '').trim() || 'edge-auth';
  if (rpName.length > 64) throw new ConfigError('WEBAUTHN_RP_NAME', 'must be at most 64 characters');
  const raw = (env.WEBAUTHN_ORIGINS ?? '').trim();
  const onRpId = (origin: string) => {
    const host = new URL(origin).hostname;
    return host === rpId || host.endsWith(`.${rpId}`);
  };
  if (!raw) return { rpId, rpName, origins: [...new Set([issuerUrl.origin, ...allowedOrigins])].filter(onRpId) };
  const origins = raw.split(',').map((s) => s.trim()).filter(Boolean).map((o) => parseUrl('WEBAUTHN_ORIGINS', o).origin);
  for (const origin of origins) {
    if (strict && !origin.startsWith('https:')) throw new ConfigError('WEBAUTHN_ORIGINS', `"${origin}" must be https:// outside development (${why})`);
    if (!onRpId(origin)) throw new ConfigError('WEBAUTHN_ORIGINS', `"${origin}" is not on the RP ID "${rpId}" or a subdomain of it`);
  }
  return { rpId, rpName, origins };
}

/**
 * Bindings are not inherited by wrangler environments: a section that forgot one gets a clear
 * error instead of a TypeError on the first request that touches it. Apart from parseConfig,
 * which judges settings only (scripts run it on a wrangler.toml's vars, without bindings).
 */
export function checkBindings(env: Env): void {
  if (typeof env.DB?.prepare !== 'function') {
    throw new ConfigError('DB', 'the D1 binding is missing (add [[d1_databases]] binding = "DB" to this environment)');
  }
  if (typeof env.KV?.get !== 'function') {
    throw new ConfigError('KV', 'the KV binding is missing (add [[kv_namespaces]] binding = "KV" to this environment)');
  }
}

/** Every quota tier's [[ratelimits]] binding must exist: quotas never silently lapse. */
function checkQuotaBindings(env: Env, config: Config): void {
  for (const tier of config.usage.quotas.tiers.values()) {
    if (!tier.perMinute) continue;
    const binding = (env as unknown as Record<string, { limit?: unknown } | undefined>)[tier.perMinute.binding];
    if (typeof binding?.limit !== 'function') {
      throw new ConfigError(`USAGE_QUOTAS.tiers.${tier.name}.binding`, `the [[ratelimits]] binding ${tier.perMinute.binding} is missing in this environment`);
    }
  }
}

const cache = new WeakMap<Env, Config>();

/** The checked configuration of this `env`, memoised: env objects live as long as the isolate. */
export function getConfig(env: Env): Config {
  let config = cache.get(env);
  if (!config) {
    checkBindings(env);
    config = parseConfig(env);
    checkQuotaBindings(env, config);
    cache.set(env, config);
  }
  return config;
}
