// Throttling with the [[ratelimits]] bindings of wrangler.toml (real local limiter).
// Limits are read from wrangler.toml itself, so the tests follow the configured numbers.
import { describe, expect, it, vi } from 'vitest';
import wranglerToml from '../wrangler.toml?raw';
import { ipBucket, parseClientIp } from '../src/lib/client-ip';
import { RATE_LIMIT_PERIOD_SECONDS, type RateLimitBinding } from '../src/middleware/rate-limit';
import { Client, errorOf, inOneWindow, randomTestIp, testEnv, uniqueName } from './helpers';

function configured(name: RateLimitBinding): { limit: number; period: number } {
  const block = new RegExp(`name = "${name}"[^\\[]*?simple = \\{ limit = (\\d+), period = (\\d+) \\}`).exec(wranglerToml);
  if (!block) throw new Error(`${name} is not configured in wrangler.toml`);
  return { limit: Number(block[1]), period: Number(block[2]) };
}

async function expectRateLimited(res: Response): Promise<void> {
  expect(res.status).toBe(429);
  expect(res.headers.get('Retry-After')).toBe(String(RATE_LIMIT_PERIOD_SECONDS));
  expect(res.headers.get('Content-Type')).toMatch(/^application\/json/);
  expect(await errorOf(res)).toEqual({ error: 'rate_limited', message: expect.any(String) });
}

describe('configuration', () => {
  it('every binding is configured with the period the code announces in Retry-After', () => {
    for (const name of ['RL_LOGIN_IP', 'RL_LOGIN_USER', 'RL_REGISTER_IP', 'RL_REFRESH_IP'] as const) {
      expect(configured(name).period).toBe(RATE_LIMIT_PERIOD_SECONDS);
    }
  });

  it('a deployment without a binding refuses the throttled route with 500 misconfigured naming it', async () => {
    const c = new Client({ ...testEnv(), RL_LOGIN_IP: undefined });
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const res = await c.request('POST', '/auth/login', { json: { username: 'whoever', password: 'whatever pw' } });
    expect(res.status).toBe(500);
    expect(await errorOf(res)).toEqual({ error: 'misconfigured', message: expect.stringContaining('RL_LOGIN_IP') });
    expect(errors.mock.calls.join('\n')).toContain('RL_LOGIN_IP');
    errors.mockRestore();
    // Routes that need no throttle keep working.
    expect((await c.request('GET', '/health')).status).toBe(200);
  });

  it('a limiter fault fails open (the D1 lockout still bounds guessing) and is logged', async () => {
    const failing: RateLimit = { limit: () => Promise.reject(new Error('limiter unavailable')) };
    const c = new Client({ ...testEnv(), RL_REGISTER_IP: failing });
    const warnings = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const res = await c.request('POST', '/auth/register', { json: { username: uniqueName('failopen'), password: 'correct horse battery' } });
    expect(res.status).toBe(201);
    expect(warnings.mock.calls.join('\n')).toContain('rate_limiter_unavailable');
    warnings.mockRestore();
  });
});

describe('login throttling', () => {
  it('per client IP: 429 with Retry-After after the limit; another IP is unaffected', async () => {
    const { limit, period } = configured('RL_LOGIN_IP');
    const c = new Client(testEnv());
    await inOneWindow(period, async () => {
      const user = await c.register();
      const ip = randomTestIp();
      // Every attempt counts, well-formed or not: the limit sits in front of body parsing and hashing.
      for (let i = 0; i < limit; i++) {
        const res = await c.request('POST', '/auth/login', { json: {}, headers: { 'CF-Connecting-IP': ip } });
        expect(res.status, `attempt ${i + 1}`).toBe(400);
      }
      await expectRateLimited(await c.request('POST', '/auth/login', { json: {}, headers: { 'CF-Connecting-IP': ip } }));
      // Even the right password is throttled from that address...
      await expectRateLimited(
        await c.request('POST', '/auth/login', { json: { username: user.username, password: user.password }, headers: { 'CF-Connecting-IP': ip } }),
      );
      // ...and works from another one.
      const other = await c.request('POST', '/auth/login', { json: { username: user.username, password: user.password }, headers: { 'CF-Connecting-IP': randomTestIp() } });
      expect(other.status).toBe(200);
    });
  });

  it('per username, across addresses; another username is unaffected; unknown names are throttled alike', async () => {
    const { limit, period } = configured('RL_LOGIN_USER');
    const c = new Client(testEnv());
    const attempts = (username: string) =>
      Promise.all(
        Array.from({ length: limit }, () => c.request('POST', '/auth/login', { json: { username, password: 'wrong password' } })),
      );
    await inOneWindow(period, async () => {
      const user = await c.register();
      const unknown = uniqueName('ghost');
      for (const res of [...(await attempts(user.username)), ...(await attempts(unknown))]) expect(res.status).toBe(401);
      // Case and compatibility forms of a name are the same account, and the same bucket.
      await expectRateLimited(await c.request('POST', '/auth/login', { json: { username: user.username.toUpperCase(), password: 'wrong password' } }));
      // An unknown name answers exactly like an existing one: the limit does not reveal existence.
      await expectRateLimited(await c.request('POST', '/auth/login', { json: { username: unknown, password: 'wrong password' } }));
      const another = await c.register();
      const res = await c.request('POST', '/auth/login', { json: { username: another.username, password: another.password } });
      expect(res.status).toBe(200);
    });
  });
});

describe('registration and refresh throttling', () => {
  it('registration per IP: 429 after the limit, another IP is unaffected', async () => {
    const { limit, period } = configured('RL_REGISTER_IP');
    const c = new Client(testEnv());
    await inOneWindow(period, async () => {
      const ip = randomTestIp();
      for (let i = 0; i < limit; i++) {
        const res = await c.request('POST', '/auth/register', { json: { username: 'x' }, headers: { 'CF-Connecting-IP': ip } });
        expect(res.status).toBe(400);
      }
      await expectRateLimited(
        await c.request('POST', '/auth/register', { json: { username: uniqueName(), password: 'correct horse battery' }, headers: { 'CF-Connecting-IP': ip } }),
      );
      const other = await c.request('POST', '/auth/register', { json: { username: uniqueName(), password: 'correct horse battery' }, headers: { 'CF-Connecting-IP': randomTestIp() } });
      expect(other.status).toBe(201);
    });
  });

  it('refresh per IP: 429 after the limit, another IP is unaffected', async () => {
    const { limit, period } = configured('RL_REFRESH_IP');
    const c = new Client(testEnv());
    await inOneWindow(period, async () => {
      const t = await c.signedUp();
      const ip = randomTestIp();
      const burst = await Promise.all(
        Array.from({ length: limit }, () => c.request('POST', '/auth/refresh', { json: { refresh_token: 'not-a-token' }, headers: { 'CF-Connecting-IP': ip } })),
      );
      for (const res of burst) expect(res.status).toBe(401);
      await expectRateLimited(await c.request('POST', '/auth/refresh', { json: { refresh_token: t.refresh_token }, headers: { 'CF-Connecting-IP': ip } }));
      const other = await c.request('POST', '/auth/refresh', { json: { refresh_token: t.refresh_token }, headers: { 'CF-Connecting-IP': randomTestIp() } });
      expect(other.status).toBe(200);
    });
  });

  it('an IPv6 client is throttled by its /64, so rotating addresses inside it does not help', async () => {
    const { limit, period } = configured('RL_REGISTER_IP');
    const c = new Client(testEnv());
    await inOneWindow(period, async () => {
      const prefix = randomTestIp().split('::')[0]!; // 2001:db8:x:y
      for (let i = 0; i < limit; i++) {
        const res = await c.request('POST', '/auth/register', { json: {}, headers: { 'CF-Connecting-IP': `${prefix}:${i.toString(16)}:0:0:1` } });
        expect(res.status).toBe(400);
      }
      await expectRateLimited(await c.request('POST', '/auth/register', { json: {}, headers: { 'CF-Connecting-IP': `${prefix}::ffff` } }));
      const neighbour = prefix.replace(/:([0-9a-f]+)$/, (_, y: string) => `:${((parseInt(y, 16) + 1) & 0xffff).toString(16)}`);
      expect((await c.request('POST', '/auth/register', { json: {}, headers: { 'CF-Connecting-IP': `${neighbour}::1` } })).status).toBe(400);
    });
  });
});

describe('protected routes are not throttled', () => {
  it('many authenticated API calls from one address all succeed', async () => {
    const c = new Client(testEnv());
    const t = await c.signedUp();
    const ip = randomTestIp();
    const n = configured('RL_REFRESH_IP').limit + configured('RL_LOGIN_IP').limit + 10;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        c.request('GET', i % 2 ? '/api/private' : '/auth/me', { token: t.access_token, headers: { 'CF-Connecting-IP': ip } }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(new Array(n).fill(200));
  });
});

describe('client addresses', () => {
  it('parses only IP literals and buckets IPv6 by /64', () => {
    expect(parseClientIp('203.0.113.7')).toBe('203.0.113.7');
    expect(parseClientIp(' 2001:DB8::1 ')).toBe('2001:db8::1');
    expect(parseClientIp('::ffff:198.51.100.2')).toBe('::ffff:198.51.100.2');
    for (const bad of [undefined, null, '', 'localhost', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.4, 5.6.7.8', '2001:db8::1%eth0',
      '2001:db8:::1', '1:2:3:4:5:6:7:8:9', ':1::', '1::2::3', 'g::1', '2001:db8::1/64', 'x'.repeat(10_000), '1.2.3.4\u0000']) {
      expect(parseClientIp(bad), String(bad).slice(0, 40)).toBeNull();
    }
    expect(ipBucket('203.0.113.7')).toBe('203.0.113.7');
    expect(ipBucket('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(ipBucket('2001:db8:1:2::9')).toBe('2001:db8:1:2::/64');
    expect(ipBucket('2001:db8:1:3::9')).toBe('2001:db8:1:3::/64');
    expect(ipBucket('::ffff:198.51.100.2')).toBe('198.51.100.2');
    expect(ipBucket('::ffff:c633:6402')).toBe('198.51.100.2');
    // No usable address (internal callers that do not forward it): one shared bucket, never a free pass.
    expect(ipBucket(null)).toBe('unknown');
  });
});
