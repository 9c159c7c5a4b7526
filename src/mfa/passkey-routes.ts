// /auth/passkeys/* (managing one's passkeys, signed in) and /auth/passkey/* (signing in with one,
// no username). Thin: parse, call the mfa services, shape the response.
import { Hono } from '../lib/hono';
import * as z from 'zod/mini';
import type { AppEnv } from '../app-env';
import { AppError } from '../errors';
import { readJson } from '../lib/body';
import { loginPassword } from '../lib/validation';
import { originAllowed } from '../middleware/csrf';
import { rateLimitByIp, rateLimitPasswordCheck } from '../middleware/rate-limit';
import { requireAuth } from '../middleware/require-auth';
import { deps, tokenResponse } from '../routes/auth';
import { deleteOwnPasskey, ownPasskeys, passkeyRegistrationOptions, registerPasskey, renameOwnPasskey } from './factors';
import { passkeySignIn } from './login';
import { authenticationOptions } from './webauthn';
import { AssertionResponse, RegistrationResponse } from './webauthn-schema';

const PasskeyName = z.string({ error: 'name must be a string' }).check(z.trim(), z.minLength(1, 'name must not be empty'), z.maxLength(64, 'name is at most 64 characters'));
export const StepUpBody = z.strictObject({ password: z.optional(loginPassword) });
export const RegisterBody = z.strictObject({ response: RegistrationResponse, name: z.optional(PasskeyName) });
export const RenameBody = z.strictObject({ name: PasskeyName });
export const LoginBody = z.strictObject({ response: AssertionResponse, mode: z.optional(z.enum(['bearer', 'cookie'], { error: 'mode must be "bearer" or "cookie"' })) });
export const CredentialId = z.string().check(z.regex(/^[A-Za-z0-9_-]{1,1400}$/));

const sessionOnly = requireAuth({ subjects: ['user'] });

function credentialId(raw: string): string {
  const id = CredentialId.safeParse(raw);
  if (!id.success) throw new AppError('not_found', 'No such passkey.');
  return id.data;
}

export const passkeyRoutes = new Hono<AppEnv>()
  .get('/', sessionOnly, async (c) => c.json({ passkeys: await ownPasskeys(deps(c), c.get('auth').userId) }))
  .post('/register/options', sessionOnly, rateLimitPasswordCheck(), async (c) => {
    const input = await readJson(c, StepUpBody, { optional: true });
    return c.json({ options: await passkeyRegistrationOptions(deps(c), c.get('auth'), input.password) });
  })
  .post('/register', sessionOnly, async (c) => {
    const input = await readJson(c, RegisterBody);
    const passkey = await registerPasskey(deps(c), c.get('auth'), input.response, input.name ?? 'Passkey');
    return c.json({ passkey }, 201);
  })
  .patch('/:id', sessionOnly, async (c) => {
    const input = await readJson(c, RenameBody);
    await renameOwnPasskey(deps(c), c.get('auth'), credentialId(c.req.param('id')), input.name);
    return c.body(null, 204);
  })
  .delete('/:id', sessionOnly, rateLimitPasswordCheck(), async (c) => {
    const input = await readJson(c, StepUpBody, { optional: true });
    await deleteOwnPasskey(deps(c), c.get('auth'), credentialId(c.req.param('id')), input.password);
    return c.body(null, 204);
  });

export const passkeySignInRoutes = new Hono<AppEnv>()
  .post('/login/options', rateLimitByIp('RL_LOGIN_IP'), async (c) => {
    const d = deps(c);
    return c.json({ options: await authenticationOptions(d.env.DB, d.config, null, d.now) });
  })
  .post('/login', rateLimitByIp('RL_LOGIN_IP'), async (c) => {
    const input = await readJson(c, LoginBody);
    const mode = input.mode ?? 'bearer';
    if (mode === 'cookie' && !originAllowed(c)) throw new AppError('csrf_failed', 'Cross-site request refused: origin not allowed.');
    return tokenResponse(c, await passkeySignIn(deps(c), input.response), mode);
  });
