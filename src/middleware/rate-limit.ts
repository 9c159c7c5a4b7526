// Throttling with the Workers rate-limiting bindings ([[ratelimits]] in wrangler.toml): a cheap
// first line in front of password hashing and token rotation. Counters are per Cloudflare
// location and approximate, so the hard per-account limit is the D1 lockout (db/lockout.ts).
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../app-env';
import { ConfigError, type Env } from '../config';
import { AppError } from '../errors';
import { ipBucket, parseClientIp } from '../lib/client-ip';
import { log } from '../lib/log';

/** Every [[ratelimits]] binding in wrangler.toml has `period = 60`; a blocked caller retries after it. */
export const RATE_LIMIT_PERIOD_SECONDS = 60;

export type RateLimitBinding = 'RL_LOGIN_IP' | 'RL_LOGIN_USER' | 'RL_REGISTER_IP' | 'RL_REFRESH_IP' | 'RL_EMAIL_IP' | 'RL_EMAIL_ADDRESS';

function binding(env: Env, name: RateLimitBinding): RateLimit {
  const value = env[name];
  // Fail closed on a deployment that forgot the binding: a clear misconfiguration error on the
  // throttled routes, never silently unthrottled password guessing.
  if (typeof value !== 'object' || value === null || typeof value.limit !== 'function') {
    throw new ConfigError(name, 'the [[ratelimits]] binding is missing (see wrangler.toml and docs/security.md)');
  }
  return value;
}

export function rateLimited(): AppError {
  return new AppError('rate_limited', undefined, { headers: { 'Retry-After': String(RATE_LIMIT_PERIOD_SECONDS) } });
}

/** Counts one attempt under `key`; throws 429 rate_limited when the binding's limit is reached. */
export async function enforceRateLimit(c: Context<AppEnv>, name: RateLimitBinding, key: string): Promise<void> {
  const limiter = binding(c.env, name);
  let outcome: RateLimitOutcome;
  try {
    outcome = await limiter.limit({ key });
  } catch (err) {
    // The limiter is an availability aid: if it fails, the D1 lockout still bounds guessing per
    // account, so fail open rather than turn a limiter fault into a login outage.
    log('warn', 'rate_limit.unavailable', { requestId: c.get('requestId'), code: 'rate_limiter_unavailable', binding: name, cause: err instanceof Error ? err.name : 'non-error thrown' });
    return;
  }
  if (!outcome.success) throw rateLimited();
}

/** The throttling key of the caller's address (see lib/client-ip.ts). */
export function clientBucket(c: Context): string {
  return ipBucket(parseClientIp(c.req.header('CF-Connecting-IP')));
}

/**
 * Throttling of a signed-in route that verifies the caller's password (password change, and any
 * later one), after requireAuth and before the body is read, so a throttled call costs no hashing
 * and writes no audit row. It shares the login budgets: password checks per client address
 * (RL_LOGIN_IP) and per account (RL_LOGIN_USER, keyed as login keys it), whichever route they use.
 */
export function rateLimitPasswordCheck(): MiddlewareHandler<AppEnv> {
  return async function rateLimitPasswordCheckMiddleware(c, next) {
    await enforceRateLimit(c, 'RL_LOGIN_IP', `ip:${clientBucket(c)}`);
    // Usernames are stored NFKC-normalised and never change: this is login's username key.
    await enforceRateLimit(c, 'RL_LOGIN_USER', `user:${c.get('auth').username.toLowerCase()}`);
    await next();
  };
}

/** Per-client-IP throttling of a route, before its body is even read. */
export function rateLimitByIp(name: RateLimitBinding): MiddlewareHandler<AppEnv> {
  return async function rateLimitByIpMiddleware(c, next) {
    await enforceRateLimit(c, name, `ip:${clientBucket(c)}`);
    await next();
  };
}

/**
 * Throttling of a route that sends mail (docs/email.md "Abuse"): per client address (RL_EMAIL_IP)
 * and, when given, per destination (RL_EMAIL_ADDRESS, keyed by the normalised address or the
 * account). The hard per-address budget is in D1 (db/email-tokens.ts); these are the cheap first line.
 *
 * @example
 *   await throttleMail(c, `addr:${normalizeEmail(input.email).key}`);
 */
export async function throttleMail(c: Context<AppEnv>, destinationKey?: string): Promise<void> {
  await enforceRateLimit(c, 'RL_EMAIL_IP', `ip:${clientBucket(c)}`);
  if (destinationKey !== undefined) await enforceRateLimit(c, 'RL_EMAIL_ADDRESS', destinationKey);
}
