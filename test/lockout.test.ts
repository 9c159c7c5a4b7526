// Account lockout counted in D1, and login answers that do not tell accounts apart.
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { describe, expect, it } from 'vitest';
import { LOCKOUT_BASE_SECONDS, LOCKOUT_MAX_SECONDS, LOCKOUT_THRESHOLD, lockoutSeconds } from '../src/db/lockout';
import { auditLog, users } from '../src/db/schema';
import { Client, errorOf, testEnv, uniqueName } from './helpers';

const WRONG = 'definitely not it';

async function row(c: Client, id: string) {
  const r = await drizzle(c.env.DB).select().from(users).where(eq(users.id, id)).get();
  return { failedLogins: r!.failedLogins, lockedUntil: r!.lockedUntil };
}

function login(c: Client, username: string, password: string) {
  return c.request('POST', '/auth/login', { json: { username, password } });
}

async function fail(c: Client, username: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) expect((await login(c, username, WRONG)).status).toBe(401);
}

/** Everything a client can see of an answer, except the per-request id. */
async function visible(res: Response) {
  const headers = [...res.headers].filter(([name]) => name !== 'x-request-id');
  return { status: res.status, headers, body: await res.text() };
}

describe('policy', () => {
  it('locks at the threshold for the base period, doubling per further failure, capped', () => {
    expect(LOCKOUT_THRESHOLD).toBe(5);
    expect([4, 5, 6, 7, 8, 9, 10, 11, 50, 10_000].map(lockoutSeconds)).toEqual([0, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    expect(LOCKOUT_BASE_SECONDS).toBe(60);
    expect(LOCKOUT_MAX_SECONDS).toBe(3600);
  });
});

describe('lockout', () => {
  it('a successful login resets the count of consecutive failures', async () => {
    const c = new Client(testEnv());
    const u = await c.register();
    await fail(c, u.username, LOCKOUT_THRESHOLD - 1);
    expect(await row(c, u.id)).toEqual({ failedLogins: LOCKOUT_THRESHOLD - 1, lockedUntil: null });
    expect((await login(c, u.username, u.password)).status).toBe(200);
    expect(await row(c, u.id)).toEqual({ failedLogins: 0, lockedUntil: null });
    await fail(c, u.username, LOCKOUT_THRESHOLD - 1); // another run of failures starts from zero
    expect((await login(c, u.username, u.password)).status).toBe(200);
  });

  it('locks after the threshold: the right password then gets the same answer as a wrong one', async () => {
    const c = new Client(testEnv());
    const u = await c.register();
    await fail(c, u.username, LOCKOUT_THRESHOLD);
    expect(await row(c, u.id)).toEqual({ failedLogins: LOCKOUT_THRESHOLD, lockedUntil: c.clock.seconds + LOCKOUT_BASE_SECONDS });
    const right = await login(c, u.username, u.password);
    const wrong = await login(c, u.username, WRONG);
    expect(right.status).toBe(401);
    expect(await visible(right)).toEqual(await visible(wrong));
    expect(await errorOf(await login(c, u.username, u.password))).toEqual({ error: 'invalid_credentials', message: expect.any(String) });
    // Attempts against a locked account are not counted and do not extend the lock.
    expect(await row(c, u.id)).toEqual({ failedLogins: LOCKOUT_THRESHOLD, lockedUntil: c.clock.seconds + LOCKOUT_BASE_SECONDS });
  });

  it('the lock expires by the clock; each failure after that doubles it, up to the cap', async () => {
    const c = new Client(testEnv());
    const u = await c.register();
    await fail(c, u.username, LOCKOUT_THRESHOLD);
    c.clock.advance(LOCKOUT_BASE_SECONDS - 1);
    expect((await login(c, u.username, u.password)).status, 'still locked one second before the end').toBe(401);
    c.clock.advance(1);
    // After the lock: one guess, then locked again for twice as long, and so on.
    let expected = LOCKOUT_BASE_SECONDS;
    for (let i = 0; i < 2; i++) {
      await fail(c, u.username, 1);
      expected *= 2;
      expect((await row(c, u.id)).lockedUntil).toBe(c.clock.seconds + expected);
      c.clock.advance(expected);
    }
    // Far along the series the lock stays at the cap.
    // (This test stays within the per-username throttle of 10 attempts a minute.)
    await drizzle(c.env.DB).update(users).set({ failedLogins: 40 }).where(eq(users.id, u.id)).run();
    await fail(c, u.username, 1);
    expect(await row(c, u.id)).toEqual({ failedLogins: 41, lockedUntil: c.clock.seconds + LOCKOUT_MAX_SECONDS });
    c.clock.advance(LOCKOUT_MAX_SECONDS);
    expect((await login(c, u.username, u.password)).status).toBe(200);
    expect(await row(c, u.id)).toEqual({ failedLogins: 0, lockedUntil: null });
  });

  it('holds across locations: failures through different isolates add up in D1', async () => {
    const env = testEnv();
    const here = new Client(env);
    const there = new Client(env, here.clock); // another app instance, same D1: another location
    const u = await here.register();
    await fail(here, u.username, 3);
    await fail(there, u.username, 2);
    expect((await login(here, u.username, u.password)).status).toBe(401);
    expect((await login(there, u.username, u.password)).status).toBe(401);
  });

  it('a burst of concurrent guesses gets at most the threshold verified (no read-modify-write race)', async () => {
    const c = new Client(testEnv());
    const u = await c.register();
    const burst = 10; // the per-username throttle admits 10 a minute
    const results = await Promise.all(Array.from({ length: burst }, () => login(c, u.username, WRONG)));
    expect(results.map((r) => r.status)).toEqual(new Array(burst).fill(401));
    expect((await row(c, u.id)).failedLogins).toBe(LOCKOUT_THRESHOLD);
    const audit = await drizzle(c.env.DB).select().from(auditLog).where(eq(auditLog.subjectId, u.id)).all();
    const reasons = audit.filter((a) => a.event === 'login').map((a) => JSON.parse(a.detail!).reason as string);
    expect(reasons.filter((r) => r === 'bad_password')).toHaveLength(LOCKOUT_THRESHOLD);
    expect(reasons.filter((r) => r === 'locked')).toHaveLength(burst - LOCKOUT_THRESHOLD);
  });

  it('an administrator unlocks the account (POST /admin/users/:id/unlock): count reset, lock lifted', async () => {
    const c = new Client(testEnv());
    const u = await c.register();
    const boss = await c.register();
    await drizzle(c.env.DB).update(users).set({ roles: '["admin"]' }).where(eq(users.id, boss.id)).run();
    const admin = await c.login(boss.username, boss.password);
    await fail(c, u.username, LOCKOUT_THRESHOLD);
    expect((await login(c, u.username, u.password)).status).toBe(401);
    const unlocked = await c.request('POST', `/admin/users/${u.id}/unlock`, { token: admin.access_token });
    expect(unlocked.status).toBe(200);
    expect(await row(c, u.id)).toEqual({ failedLogins: 0, lockedUntil: null });
    expect((await login(c, u.username, u.password)).status).toBe(200);
    // A locked account's state is visible to administrators only.
    const seen = (await (await c.request('GET', `/admin/users/${u.id}`, { token: admin.access_token })).json()) as { user: Record<string, unknown> };
    expect(seen.user).toMatchObject({ failed_logins: 0, locked_until: null });
  });

  it('wrong current passwords on /auth/password count toward the same lockout', async () => {
    const c = new Client(testEnv());
    const t = await c.signedUp();
    for (let i = 0; i < LOCKOUT_THRESHOLD; i++) {
      const res = await c.request('POST', '/auth/password', { token: t.access_token, json: { current_password: WRONG, new_password: 'a brand new password' } });
      expect(res.status).toBe(401);
      expect((await errorOf(res)).error).toBe('invalid_credentials');
    }
    // Locked: neither login nor a password change with the right password gets through.
    expect((await login(c, t.username, t.password)).status).toBe(401);
    const change = await c.request('POST', '/auth/password', { token: t.access_token, json: { current_password: t.password, new_password: 'a brand new password' } });
    expect(change.status).toBe(401);
    c.clock.advance(LOCKOUT_BASE_SECONDS);
    const again = await c.request('POST', '/auth/password', { token: t.access_token, json: { current_password: t.password, new_password: 'a brand new password' } });
    expect(again.status).toBe(204);
    expect(await row(c, t.id)).toEqual({ failedLogins: 0, lockedUntil: null });
  });
});

describe('enumeration', () => {
  it('unknown, wrong-password, disabled and locked accounts get byte-identical answers', async () => {
    const c = new Client(testEnv());
    const existing = await c.register();
    const disabled = await c.register();
    await drizzle(c.env.DB).update(users).set({ disabled: true }).where(eq(users.id, disabled.id)).run();
    const locked = await c.register();
    await fail(c, locked.username, LOCKOUT_THRESHOLD);
    const answers = [
      await login(c, uniqueName('nobody'), WRONG),
      await login(c, existing.username, WRONG),
      await login(c, disabled.username, disabled.password),
      await login(c, locked.username, locked.password),
    ];
    const [first, ...rest] = await Promise.all(answers.map(visible));
    expect(first!.status).toBe(401);
    for (const other of rest) expect(other).toEqual(first);
  });

  it('an unknown username takes about as long as an existing one: the dummy hash runs', async () => {
    // Measured through the app inside workerd; only ratios are asserted, never absolute times.
    const c = new Client(testEnv());
    const samples = 5;
    const existing = await Promise.all(Array.from({ length: samples }, () => c.register()));
    const timeOf = async (body: unknown): Promise<number> => {
      const start = performance.now();
      const res = await c.request('POST', '/auth/login', { json: body });
      await res.arrayBuffer();
      return performance.now() - start;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    const noHash: number[] = [];
    for (let i = 0; i < samples; i++) {
      // Interleaved, so load from elsewhere on the machine hits all three series alike.
      known.push(await timeOf({ username: existing[i]!.username, password: WRONG }));
      unknown.push(await timeOf({ username: uniqueName('ghost'), password: WRONG }));
      noHash.push(await timeOf({ username: uniqueName('ghost') })); // 400 before any hashing
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ratio = median(unknown) / median(known);
    console.log(
      `login timing (median of ${samples}): existing user ${median(known).toFixed(0)} ms, unknown user ${median(unknown).toFixed(0)} ms, ` +
        `rejected before hashing ${median(noHash).toFixed(1)} ms; unknown/existing = ${ratio.toFixed(2)}`,
    );
    expect(ratio).toBeGreaterThan(1 / 3);
    expect(ratio).toBeLessThan(3);
    // The control that makes this test able to fail: without the dummy hash an unknown user would
    // answer like a request refused before hashing, many times faster.
    expect(median(unknown)).toBeGreaterThan(5 * median(noHash));
  });
});
