// Observability without leaks. Auth events produce JSON log lines carrying the request
// id; no line ever contains a password, a token, a secret or a username.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { log, REDACTED } from '../src/lib/log';
import { Client, testEnv, uniqueName } from './helpers';

type Line = Record<string, unknown> & { event: string; level: string };

let lines: string[] = [];

beforeEach(() => {
  lines = [];
  for (const method of ['log', 'warn', 'error'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(' '));
    });
  }
});
afterEach(() => {
  vi.restoreAllMocks();
});

const parsed = (): Line[] => lines.map((l) => JSON.parse(l) as Line);
const events = (): Line[] => parsed().filter((l) => l.event.startsWith('auth.'));

describe('auth event log lines', () => {
  it('login, refresh, reuse, logout: one JSON line each with the request id, and no secret anywhere', async () => {
    const env = testEnv();
    const c = new Client(env);
    const username = uniqueName('logger');
    const password = 'correct horse battery staple';
    await c.register(username, password);

    const bad = await c.request('POST', '/auth/login', { json: { username, password: 'wrong password here' } });
    expect(bad.status).toBe(401);
    const unknown = await c.request('POST', '/auth/login', { json: { username: 'nobody-' + username, password } });
    expect(unknown.status).toBe(401);

    const login = await c.request('POST', '/auth/login', { json: { username, password } });
    const tokens = (await login.json()) as { access_token: string; refresh_token: string; user: { id: string } };
    const loginId = login.headers.get('X-Request-Id');

    const refreshed = await c.request('POST', '/auth/refresh', { json: { refresh_token: tokens.refresh_token } });
    expect(refreshed.status).toBe(200);
    const next = (await refreshed.json()) as { access_token: string; refresh_token: string };

    c.clock.advance(60); // past the reuse grace window: presenting the old token again is reuse
    const reuse = await c.request('POST', '/auth/refresh', { json: { refresh_token: tokens.refresh_token } });
    expect(reuse.status).toBe(401);
    const reuseId = reuse.headers.get('X-Request-Id');

    const garbage = await c.request('POST', '/auth/refresh', { json: { refresh_token: 'not-a-real-token' } });
    expect(garbage.status).toBe(401);

    const again = await c.login(username, password);
    const logout = await c.request('POST', '/auth/logout', { token: again.access_token });
    expect(logout.status).toBe(204);

    const seen = events().map((l) => `${l.event}:${l.outcome}${l.reason ? `:${l.reason}` : ''}`);
    expect(seen).toEqual([
      'auth.register:success',
      'auth.login:failure:bad_password',
      'auth.login:failure:unknown_user',
      'auth.login:success',
      'auth.refresh:success',
      'auth.refresh_reuse_detected:failure',
      'auth.refresh:failure:invalid_grant',
      'auth.login:success',
      'auth.logout:success',
    ]);

    const byEvent = (e: string) => events().filter((l) => l.event === e);
    expect(byEvent('auth.login').at(2)).toMatchObject({ level: 'info', requestId: loginId, userId: tokens.user.id, sessionId: expect.any(String) });
    expect(byEvent('auth.refresh_reuse_detected')[0]).toMatchObject({ level: 'warn', requestId: reuseId, userId: tokens.user.id });
    for (const line of events()) expect(line.requestId).toMatch(/^[0-9a-f-]{36}$/);

    const all = lines.join('\n');
    const secrets = [
      password,
      'wrong password here',
      username,
      tokens.access_token,
      tokens.refresh_token,
      next.access_token,
      next.refresh_token,
      again.access_token,
      again.refresh_token,
      env.KEY_ENCRYPTION_KEY!,
      env.JWT_SECRET!,
    ];
    for (const secret of secrets) expect(all).not.toContain(secret);
  });
});

describe('log()', () => {
  it('redacts fields whose names suggest a secret and keeps the rest', () => {
    log('info', 'test.event', {
      requestId: 'r-1',
      userId: 'u-1',
      token: 'tok-value',
      refresh_token: 'rt-value',
      password: 'pw-value',
      username: 'alice',
      KEY_ENCRYPTION_KEY: 'kek-value',
      authorization: 'Bearer x',
      count: 3,
      skipped: undefined,
    });
    expect(parsed()).toEqual([
      {
        level: 'info',
        event: 'test.event',
        requestId: 'r-1',
        userId: 'u-1',
        token: REDACTED,
        refresh_token: REDACTED,
        password: REDACTED,
        username: REDACTED,
        KEY_ENCRYPTION_KEY: REDACTED,
        authorization: REDACTED,
        count: 3,
      },
    ]);
  });

  it('cannot be made to lie about its level or event', () => {
    log('warn', 'real.event', { level: 'info', event: 'fake' } as never);
    expect(parsed()[0]).toMatchObject({ level: 'warn', event: 'real.event' });
  });
});
