// /auth/mfa/*: TOTP, recovery codes and the second step of a login. Thin: parse, call the mfa
// services, shape the response. Schemas in classic zod beside the routes, like every route file.
import type { Context } from 'hono';
import { Hono } from '../lib/hono';
import * as z from 'zod/mini';
import type { AppEnv } from '../app-env';
import { AppError } from '../errors';
import { readJson } from '../lib/body';
import { loginPassword } from '../lib/validation';
import { originAllowed } from '../middleware/csrf';
import { enforceRateLimit, rateLimitByIp, rateLimitPasswordCheck } from '../middleware/rate-limit';
import { requireAuth } from '../middleware/require-auth';
import { deps, tokenResponse } from '../routes/auth';
import { disableTotp, enableTotp, mfaStatus, regenerateRecoveryCodes, setupTotp } from './factors';
import { completeMfaLogin, pendingUser, type FactorInput } from './login';
import { authenticationOptions } from './webauthn';
import { AssertionResponse } from './webauthn-schema';

const TotpCode = z.string({ error: 'code must be a string' }).check(z.regex(/^\d{6}$/, 'code must be 6 digits'));
const RecoveryCode = z.string({ error: 'recovery_code must be a string' }).check(z.minLength(1), z.maxLength(64));
const MfaToken = z.string({ error: 'mfa_token must be a string' }).check(z.regex(/^[A-Za-z0-9_-]{43}$/, 'mfa_token is not one this service issued'));
const Mode = z.optional(z.enum(['bearer', 'cookie'], { error: 'mode must be "bearer" or "cookie"' }));

export const StepUpBody = z.strictObject({ password: z.optional(loginPassword) });
export const ConfirmBody = z.strictObject({ code: TotpCode });
export const DisableBody = z.strictObject({ code: z.optional(TotpCode), recovery_code: z.optional(RecoveryCode) });
export const VerifyBody = z.strictObject({ mfa_token: MfaToken, code: z.optional(TotpCode), recovery_code: z.optional(RecoveryCode), webauthn: z.optional(AssertionResponse), mode: Mode });
export const OptionsBody = z.strictObject({ mfa_token: MfaToken });

/** Exactly one factor in a body: a code, a recovery code or a WebAuthn assertion. */
function factorOf(input: { code?: string | undefined; recovery_code?: string | undefined; webauthn?: z.output<typeof AssertionResponse> | undefined }): FactorInput {
  const given = [input.code, input.recovery_code, input.webauthn].filter((v) => v !== undefined).length;
  if (given !== 1) throw new AppError('invalid_request', 'Send exactly one of code, recovery_code or webauthn.');
  if (input.code !== undefined) return { method: 'totp', code: input.code };
  if (input.recovery_code !== undefined) return { method: 'recovery_code', code: input.recovery_code };
  return { method: 'webauthn', response: input.webauthn! };
}

const sessionOnly = requireAuth({ subjects: ['user'] });

async function throttleAccount(c: Context<AppEnv>, username: string): Promise<void> {
  // Login's per-account budget: codes and passwords of one account share it, whatever the address.
  await enforceRateLimit(c, 'RL_LOGIN_USER', `user:${username.toLowerCase()}`);
}

export const mfaRoutes = new Hono<AppEnv>()
  .get('/', sessionOnly, async (c) => c.json(await mfaStatus(deps(c), c.get('auth').userId)))
  .post('/totp/setup', sessionOnly, rateLimitPasswordCheck(), async (c) => {
    const input = await readJson(c, StepUpBody, { optional: true });
    const { secret, uri } = await setupTotp(deps(c), c.get('auth'), input.password);
    return c.json({ secret, otpauth_uri: uri });
  })
  .post('/totp/confirm', sessionOnly, rateLimitPasswordCheck(), async (c) => {
    const input = await readJson(c, ConfirmBody);
    return c.json({ recovery_codes: await enableTotp(deps(c), c.get('auth'), input.code) });
  })
  .post('/totp/disable', sessionOnly, rateLimitPasswordCheck(), async (c) => {
    const input = await readJson(c, DisableBody);
    await disableTotp(deps(c), c.get('auth'), factorOf(input));
    return c.body(null, 204);
  })
  .post('/recovery-codes', sessionOnly, rateLimitPasswordCheck(), async (c) => {
    const input = await readJson(c, StepUpBody, { optional: true });
    return c.json({ recovery_codes: await regenerateRecoveryCodes(deps(c), c.get('auth'), input.password) });
  })
  .post('/webauthn/options', rateLimitByIp('RL_LOGIN_IP'), async (c) => {
    const input = await readJson(c, OptionsBody);
    const d = deps(c);
    const user = await pendingUser(d, input.mfa_token);
    return c.json({ options: await authenticationOptions(d.env.DB, d.config, user.id, d.now) });
  })
  .post('/verify', rateLimitByIp('RL_LOGIN_IP'), async (c) => {
    const input = await readJson(c, VerifyBody);
    const mode = input.mode ?? 'bearer';
    // The same login-CSRF rule as /auth/login: cookies are only set for an allowed origin.
    if (mode === 'cookie' && !originAllowed(c)) throw new AppError('csrf_failed', 'Cross-site request refused: origin not allowed.');
    const factor = factorOf(input);
    const d = deps(c);
    const user = await pendingUser(d, input.mfa_token);
    await throttleAccount(c, user.username);
    return tokenResponse(c, await completeMfaLogin(d, input.mfa_token, user.id, factor), mode);
  });
