// Configuration that cannot be insecure by accident. parseConfig unit tests: outside
// development every weak setting is refused with a ConfigError naming it.
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { ConfigError, getConfig, parseConfig, type Env } from '../src/config';

const KEK = 'Vq3x9Zr2LmN8pT4sW7yB1cD6fG0hJ5kQ';
const JWT = 'aK9mR2tX7wQ4zP1nB8vC5yL3sD6gH0jF';

/** A valid production configuration; each test breaks one thing. */
function production(overrides: Partial<Record<keyof Env, string | undefined>> = {}): Env {
  const base: Record<string, unknown> = {
    DB: env.DB,
    KV: env.KV,
    ENVIRONMENT: 'production',
    JWT_ALG: 'ES256',
    JWT_ISSUER: 'https://auth.example.com',
    JWT_AUDIENCE: 'edge-auth',
    ALLOWED_ORIGINS: '',
    KEY_ENCRYPTION_KEY: KEK,
  };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete base[name];
    else base[name] = value;
  }
  return base as unknown as Env;
}

function refusal(e: Env): ConfigError {
  try {
    parseConfig(e);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('parseConfig accepted the configuration');
}

describe('parseConfig: environments', () => {
  it('accepts a complete production configuration', () => {
    const config = parseConfig(production());
    expect(config).toMatchObject({
      environment: 'production',
      issuer: 'https://auth.example.com',
      audience: ['edge-auth'],
      allowedOrigins: ['https://auth.example.com'],
      jwtSecret: undefined,
      keyEncryptionKey: KEK,
    });
  });

  it('development (explicit) keeps the local defaults: http://localhost issuer, default audience', () => {
    const config = parseConfig({ DB: env.DB, KV: env.KV, ENVIRONMENT: 'development', KEY_ENCRYPTION_KEY: KEK } as Env);
    expect(config).toMatchObject({ environment: 'development', issuer: 'http://localhost:8787', audience: ['edge-auth'] });
  });

  it('the vitest/wrangler dev configuration (wrangler.toml top level) is development', () => {
    expect(env.ENVIRONMENT).toBe('development');
    expect(parseConfig(env as unknown as Env).environment).toBe('development');
  });

  it('an unset ENVIRONMENT means production: the http:// default issuer is refused', () => {
    const err = refusal({ DB: env.DB, KV: env.KV, JWT_ISSUER: 'http://localhost:8787', KEY_ENCRYPTION_KEY: KEK } as Env);
    expect(err.variable).toBe('JWT_ISSUER');
    expect(err.message).toBe('JWT_ISSUER: must be an https:// URL outside development (ENVIRONMENT=production)');
  });

  it('an unknown ENVIRONMENT is refused', () => {
    const err = refusal(production({ ENVIRONMENT: 'prod' }));
    expect(err.variable).toBe('ENVIRONMENT');
    expect(err.message).toBe('ENVIRONMENT: must be development, staging or production');
  });

  it('staging is as strict as production', () => {
    const err = refusal(production({ ENVIRONMENT: 'staging', JWT_ISSUER: 'http://staging.example.com' }));
    expect(err.message).toBe('JWT_ISSUER: must be an https:// URL outside development (ENVIRONMENT=staging)');
  });
});

describe('parseConfig: each insecure production setting is refused, named', () => {
  const cases: [string, Partial<Record<keyof Env, string | undefined>>, string, RegExp][] = [
    ['http:// issuer', { JWT_ISSUER: 'http://auth.example.com' }, 'JWT_ISSUER', /must be an https:\/\/ URL outside development/],
    ['missing issuer', { JWT_ISSUER: undefined }, 'JWT_ISSUER', /must be set to the service's public https:\/\/ URL/],
    ['loopback issuer', { JWT_ISSUER: 'https://localhost:8787' }, 'JWT_ISSUER', /not a loopback address/],
    ['placeholder issuer', { JWT_ISSUER: 'https://REPLACE_WITH_AUTH_HOSTNAME' }, 'JWT_ISSUER', /REPLACE_WITH_\.\.\. placeholder/],
    ['audience left to its default', { JWT_AUDIENCE: undefined }, 'JWT_AUDIENCE', /must be set explicitly/],
    ['empty audience', { JWT_AUDIENCE: '' }, 'JWT_AUDIENCE', /must not be empty/],
    ['blank audience list', { JWT_AUDIENCE: ' , ' }, 'JWT_AUDIENCE', /must not be empty/],
    ['wildcard origin', { ALLOWED_ORIGINS: '*' }, 'ALLOWED_ORIGINS', /wildcards are not allowed with cookie mode/],
    ['wildcard subdomain origin', { ALLOWED_ORIGINS: 'https://app.example.com, https://*.example.com' }, 'ALLOWED_ORIGINS', /wildcards are not allowed/],
    ['http:// origin', { ALLOWED_ORIGINS: 'http://app.example.com' }, 'ALLOWED_ORIGINS', /must be https:\/\/ outside development/],
    ['"null" origin', { ALLOWED_ORIGINS: 'null' }, 'ALLOWED_ORIGINS', /"null" is not an origin/],
    ['missing KEY_ENCRYPTION_KEY', { KEY_ENCRYPTION_KEY: undefined }, 'KEY_ENCRYPTION_KEY', /must be set to at least 32 characters/],
    ['short KEY_ENCRYPTION_KEY', { KEY_ENCRYPTION_KEY: 'too-short-0123456789' }, 'KEY_ENCRYPTION_KEY', /at least 32 characters/],
    ['repetitive KEY_ENCRYPTION_KEY', { KEY_ENCRYPTION_KEY: 'changeme-changeme-changeme-changeme' }, 'KEY_ENCRYPTION_KEY', /does not look random/],
    ['short JWT_SECRET', { JWT_ALG: 'HS256', JWT_SECRET: 'short-secret' }, 'JWT_SECRET', /at least 32 characters/],
    ['repetitive JWT_SECRET', { JWT_ALG: 'HS256', JWT_SECRET: 'a'.repeat(64) }, 'JWT_SECRET', /does not look random/],
    ['JWT_SECRET equal to KEY_ENCRYPTION_KEY', { JWT_ALG: 'HS256', JWT_SECRET: KEK }, 'JWT_SECRET', /must differ from KEY_ENCRYPTION_KEY/],
  ];

  it.each(cases)('%s', (_name, overrides, variable, message) => {
    const err = refusal(production(overrides));
    expect(err.variable).toBe(variable);
    expect(err.message.startsWith(`${variable}: `)).toBe(true);
    expect(err.message).toMatch(message);
    // A secret's value is never part of the message.
    for (const value of [overrides.KEY_ENCRYPTION_KEY, overrides.JWT_SECRET]) if (value) expect(err.message).not.toContain(value);
  });

  it('a JWT_SECRET is optional with HS256 (keys then live in D1), and accepted when strong', () => {
    expect(parseConfig(production({ JWT_ALG: 'HS256' })).jwtSecret).toBeUndefined();
    expect(parseConfig(production({ JWT_ALG: 'HS256', JWT_SECRET: JWT })).jwtSecret).toBe(JWT);
  });

  it('https origins on the same site are accepted', () => {
    expect(parseConfig(production({ ALLOWED_ORIGINS: 'https://app.example.com, https://www.example.com' })).allowedOrigins).toEqual([
      'https://app.example.com',
      'https://www.example.com',
    ]);
  });
});

describe('parseConfig: rules that hold in development too', () => {
  const development = (overrides: Partial<Record<keyof Env, string | undefined>>) => production({ ENVIRONMENT: 'development', JWT_ISSUER: 'http://localhost:8787', ...overrides });

  it('refuses wildcard origins and missing or weak secrets', () => {
    expect(refusal(development({ ALLOWED_ORIGINS: '*' })).variable).toBe('ALLOWED_ORIGINS');
    expect(refusal(development({ KEY_ENCRYPTION_KEY: undefined })).variable).toBe('KEY_ENCRYPTION_KEY');
    expect(refusal(development({ KEY_ENCRYPTION_KEY: 'x'.repeat(40) })).variable).toBe('KEY_ENCRYPTION_KEY');
  });

  it('getConfig refuses an environment without its D1 or KV binding (bindings are not inherited)', () => {
    expect(() => getConfig({ ...development({}), DB: undefined } as unknown as Env)).toThrow(/^DB: the D1 binding is missing/);
    expect(() => getConfig({ ...development({}), KV: undefined } as unknown as Env)).toThrow(/^KV: the KV binding is missing/);
    // parseConfig judges settings alone: scripts run it on wrangler.toml vars, without bindings.
    expect(parseConfig({ ...development({}), DB: undefined, KV: undefined } as unknown as Env).environment).toBe('development');
  });

  it('allows http:// origins and a default audience only there', () => {
    const config = parseConfig(development({ ALLOWED_ORIGINS: 'http://localhost:5173', JWT_AUDIENCE: undefined }));
    expect(config.allowedOrigins).toEqual(['http://localhost:5173']);
    expect(config.audience).toEqual(['edge-auth']);
  });
});
