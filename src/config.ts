// env -> typed, validated configuration. Parsed once per `env` object (per isolate in
// production); a bad value is a ConfigError naming the variable, never a silent default.

export type JwtAlg = 'HS256' | 'ES256';

export interface Env {
  DB: D1Database;
  KV: KVNamespace;
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
  JWT_SECRET?: string;
  KEY_ENCRYPTION_KEY?: string;
}

export interface Config {
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
  /** HS256 key material from the JWT_SECRET secret, when set. */
  jwtSecret: string | undefined;
  keyEncryptionKey: string;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, reason: string) {
    super(`${variable}: ${reason}`);
    this.name = 'ConfigError';
  }
}

/** Upper bounds of ACCESS_TOKEN_TTL and CLOCK_LEEWAY: the longest any access token can live,
 * whatever a deployment sets (scripts/user-create.ts revokes for that long). */
export const ACCESS_TOKEN_TTL_MAX = 86_400;
export const CLOCK_LEEWAY_MAX = 300;

/** Secrets shorter than this are refused: 32 bytes is the HS256 key size (RFC 7518 section 3.2). */
export const MIN_SECRET_LENGTH = 32;

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

function origin(name: string, value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme');
    return url.origin;
  } catch {
    throw new ConfigError(name, `"${value}" is not an http(s) origin`);
  }
}

export function parseConfig(env: Env): Config {
  const alg = (env.JWT_ALG ?? 'ES256').trim();
  if (alg !== 'HS256' && alg !== 'ES256') throw new ConfigError('JWT_ALG', 'must be HS256 or ES256');

  const issuer = (env.JWT_ISSUER ?? 'http://localhost:8787').trim();
  origin('JWT_ISSUER', issuer); // validates the scheme; the issuer itself is kept verbatim
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

  const originsRaw = (env.ALLOWED_ORIGINS ?? '').trim();
  const allowedOrigins = originsRaw
    ? originsRaw.split(',').map((s) => s.trim()).filter(Boolean).map((o) => {
        if (o === '*') throw new ConfigError('ALLOWED_ORIGINS', 'wildcards are not allowed; list origins');
        return origin('ALLOWED_ORIGINS', o);
      })
    : [new URL(issuer).origin];

  const jwtSecret = env.JWT_SECRET === undefined || env.JWT_SECRET === '' ? undefined : env.JWT_SECRET;
  if (jwtSecret !== undefined && jwtSecret.length < MIN_SECRET_LENGTH) {
    throw new ConfigError('JWT_SECRET', `must be at least ${MIN_SECRET_LENGTH} characters of random data`);
  }
  const keyEncryptionKey = env.KEY_ENCRYPTION_KEY ?? '';
  if (keyEncryptionKey.length < MIN_SECRET_LENGTH) {
    throw new ConfigError('KEY_ENCRYPTION_KEY', `must be set to at least ${MIN_SECRET_LENGTH} characters of random data`);
  }

  return {
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
    jwtSecret,
    keyEncryptionKey,
  } satisfies Config;
}

const cache = new WeakMap<Env, Config>();

/** The parsed configuration of this `env`, memoised: env objects live as long as the isolate. */
export function getConfig(env: Env): Config {
  let config = cache.get(env);
  if (!config) {
    config = parseConfig(env);
    cache.set(env, config);
  }
  return config;
}
