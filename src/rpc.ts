// RPC for other Workers over a service binding (docs/keys.md "Verifying tokens elsewhere"):
//   [[services]] binding = "AUTH", service = "edge-auth", entrypoint = "AuthService"
//   const result = await env.AUTH.verify(token)
// verify() applies exactly the checks of requireAuth (services/authenticate.ts), revocation
// included, and answers with a typed result instead of throwing: a bad token is an expected outcome
// for the caller, not an exception crossing the binding.
import { WorkerEntrypoint } from 'cloudflare:workers';
import { ConfigError, getConfig, type Env } from './config';
import { AppError } from './errors';
import { describeError, log } from './lib/log';
import { platformFaultOf } from './lib/platform-fault';
import { ROLE_PATTERN } from './lib/validation';
import { authenticate, type Subject } from './services/authenticate';
import { MAX_TOKEN_LENGTH } from './tokens/access';

export type VerifyErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'misconfigured' | 'temporarily_unavailable' | 'internal_error';

export type VerifyResult =
  /** `claims`: the subject (user, API key or client) with its roles; `sub`, `username`, `roles` and `exp` always. */
  | { ok: true; claims: Subject }
  | { ok: false; error: VerifyErrorCode; message: string };

export interface VerifyOptions {
  /** Accept only tokens holding any of these roles (insufficient_scope otherwise). */
  roles?: string[];
}

const MAX_ROLES = 32;

function failure(error: VerifyErrorCode, message: string): VerifyResult {
  return { ok: false, error, message };
}

/**
 * verify() with an explicit clock (Unix seconds): the entrypoint passes the real one, tests their
 * own. `token` is an access token or an API key, checked exactly as requireAuth checks them.
 */
export async function verifyToken(env: Env, token: unknown, now: number, options: VerifyOptions = {}, defer?: (work: Promise<unknown>) => void): Promise<VerifyResult> {
  // RPC callers are other code, not browsers, but their inputs are still untrusted input.
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
    return failure('invalid_token', 'The access token is malformed.');
  }
  const roles = options?.roles;
  if (roles !== undefined && (!Array.isArray(roles) || roles.length > MAX_ROLES || !roles.every((r) => typeof r === 'string' && ROLE_PATTERN.test(r)))) {
    return failure('invalid_request', 'roles must be a list of role names.');
  }
  try {
    const claims = await authenticate(env, getConfig(env), token, now, { roles: roles ?? [], defer });
    return { ok: true, claims };
  } catch (err) {
    if (err instanceof AppError && (err.code === 'invalid_token' || err.code === 'insufficient_scope')) {
      return failure(err.code, err.message);
    }
    // A store fault is retryable: the caller may answer 503 itself rather than refuse the user.
    const code = err instanceof ConfigError ? 'misconfigured' : platformFaultOf(err) ? 'temporarily_unavailable' : 'internal_error';
    // Name and message only, never the token; database errors without their bound parameters.
    log('error', 'rpc.error', { code, via: 'rpc', cause: describeError(err) });
    const message = { misconfigured: 'The auth service is misconfigured.', temporarily_unavailable: 'The auth service is temporarily unavailable.', internal_error: 'Internal error.' }[code];
    return failure(code, message);
  }
}

export class AuthService extends WorkerEntrypoint<Env> {
  /** Verifies an access token or API key: `{ ok: true, claims }` or `{ ok: false, error, message }`. */
  async verify(token: string, options?: VerifyOptions): Promise<VerifyResult> {
    return verifyToken(this.env, token, Math.floor(Date.now() / 1000), options, (work) => this.ctx.waitUntil(work));
  }
}
