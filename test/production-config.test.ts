// A misconfigured deployment refuses to serve. The app itself, with a production env
// that has one insecure setting: every request (health included) gets a 500 `misconfigured` naming
// the setting, and one JSON log line per request; never a silently weakened service.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Env } from '../src/config';
import { Client, errorOf, testEnv } from './helpers';

const KEK = 'prod-like-kek-Vq3x9Zr2LmN8pT4sW7yB1cD6fG0hJ5kQ';

function productionEnv(overrides: Partial<Env> = {}): Env {
  return testEnv({
    ENVIRONMENT: 'production',
    JWT_ISSUER: 'https://auth.example.com',
    JWT_AUDIENCE: 'edge-auth',
    ALLOWED_ORIGINS: '',
    KEY_ENCRYPTION_KEY: KEK,
    JWT_SECRET: undefined,
    // wrangler.toml's development gateway table proxies to http://127.0.0.1, refused in production.
    GATEWAY_ROUTES: [],
    ...overrides,
  });
}

function errorLines(spy: { mock: { calls: unknown[][] } }): Record<string, unknown>[] {
  return spy.mock.calls.map((args) => JSON.parse(String(args[0])) as Record<string, unknown>);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('a production deployment with an insecure setting', () => {
  it('answers every request with 500 misconfigured naming JWT_ISSUER when the issuer is http://', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const c = new Client(productionEnv({ JWT_ISSUER: 'http://auth.example.com' }));
    const requests: [string, string, object?][] = [
      ['GET', '/health'],
      ['POST', '/auth/login', { json: { username: 'someone', password: 'whatever-password' } }],
      ['POST', '/auth/register', { json: { username: 'someone', password: 'whatever-password' } }],
      ['GET', '/.well-known/jwks.json'],
      ['GET', '/api/private'],
      ['GET', '/no-such-route'],
    ];
    for (const [method, path, options] of requests) {
      const res = await c.request(method, path, options);
      expect(res.status, `${method} ${path}`).toBe(500);
      expect(await errorOf(res)).toEqual({
        error: 'misconfigured',
        message: 'The service is misconfigured: JWT_ISSUER: must be an https:// URL outside development (ENVIRONMENT=production)',
      });
      expect(res.headers.get('Cache-Control')).toBe('no-store');
      const requestId = res.headers.get('X-Request-Id');
      expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
      // One log line per refused request, carrying the setting and the same request id.
      const line = errorLines(errors).at(-1)!;
      expect(line).toMatchObject({ level: 'error', event: 'config.misconfigured', code: 'misconfigured', setting: 'JWT_ISSUER', requestId });
    }
    expect(errors).toHaveBeenCalledTimes(requests.length);
  });

  it('names KEY_ENCRYPTION_KEY when it is missing, and never echoes a secret value when it is weak', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const missing = await new Client(productionEnv({ KEY_ENCRYPTION_KEY: undefined })).request('GET', '/health');
    expect(missing.status).toBe(500);
    expect((await errorOf(missing)).message).toBe('The service is misconfigured: KEY_ENCRYPTION_KEY: must be set to at least 32 characters of random data');

    const weak = 'password'.repeat(5);
    const res = await new Client(productionEnv({ KEY_ENCRYPTION_KEY: weak })).request('GET', '/health');
    const text = await res.text();
    expect(res.status).toBe(500);
    expect(text).toContain('KEY_ENCRYPTION_KEY: does not look random');
    expect(text).not.toContain(weak);
  });

  it('names the setting for each insecure value, through the same 500', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const cases: [Partial<Env>, string][] = [
      [{ JWT_AUDIENCE: '' }, 'JWT_AUDIENCE'],
      [{ ALLOWED_ORIGINS: '*' }, 'ALLOWED_ORIGINS'],
      [{ ALLOWED_ORIGINS: 'http://app.example.com' }, 'ALLOWED_ORIGINS'],
      [{ JWT_ALG: 'HS256', JWT_SECRET: 'short' }, 'JWT_SECRET'],
      [{ ENVIRONMENT: undefined, JWT_ISSUER: 'http://localhost:8787' }, 'JWT_ISSUER'],
      [{ KV: undefined } as unknown as Partial<Env>, 'KV'], // an [env.*] section without its KV binding
    ];
    for (const [overrides, setting] of cases) {
      const res = await new Client(productionEnv(overrides)).request('GET', '/health');
      expect(res.status).toBe(500);
      const body = await errorOf(res);
      expect(body.error).toBe('misconfigured');
      expect(body.message.startsWith(`The service is misconfigured: ${setting}: `), body.message).toBe(true);
    }
  });

  it('serves normally once the configuration is secure', async () => {
    const c = new Client(productionEnv());
    const res = await c.request('GET', '/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
    const jwks = await c.request('GET', '/.well-known/oauth-authorization-server');
    expect(((await jwks.json()) as { issuer: string }).issuer).toBe('https://auth.example.com');
  });
});
