// Account mail (docs/email.md): verification, reset, change, sign-in by address, with the
// send_email binding captured (test/email-helpers.ts).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { issueEmailToken, MAIL_PER_ADDRESS_PER_HOUR } from '../src/db/email-tokens';
import { runCleanup } from '../src/services/cleanup';
import { CapturedMail, countingD1, mailEnv, tokenIn, uniqueEmail, verifiedUser } from './email-helpers';
import { Client, errorOf, inOneWindow, randomTestIp, uniqueName } from './helpers';

afterEach(() => {
  vi.restoreAllMocks();
});

function setup(overrides: Parameters<typeof mailEnv>[1] = {}) {
  const mail = new CapturedMail();
  const c = new Client(mailEnv(mail, overrides));
  return { mail, c };
}

describe('email verification', () => {
  it('registration with an address mails a single-use link (text and HTML, escaped, APP_NAME) that verifies it', async () => {
    const { mail, c } = setup({ APP_NAME: 'Acme <b>&</b> "Co"', APP_URL: 'https://app.example.com/base' });
    const email = uniqueEmail('Reg').replace('reg', 'Reg');
    const res = await c.request('POST', '/auth/register', { json: { username: uniqueName('reg'), password: 'correct horse battery', email } });
    expect(res.status).toBe(201);
    const { user } = (await res.json()) as { user: { email: string; email_verified: boolean } };
    expect(user.email_verified).toBe(false);
    const sent = mail.last(email);
    expect(sent.from).toBe('no-reply@localhost');
    expect(sent.subject).toBe('Acme <b>&</b> "Co": confirm your email address');
    expect(sent.text).toMatch(/https:\/\/app\.example\.com\/base\/verify-email#token=[A-Za-z0-9_-]{43}\n/);
    expect(sent.html).toContain('Acme &lt;b&gt;&amp;&lt;/b&gt; &quot;Co&quot;');
    expect(sent.html).not.toContain('<b>&</b>');
    const token = tokenIn(sent);
    const verified = await c.request('POST', '/auth/email/verify', { json: { token } });
    expect(verified.status).toBe(200);
    expect(await verified.json()).toEqual({ email, email_verified: true, changed: false });
    const again = await c.request('POST', '/auth/email/verify', { json: { token } });
    expect(again.status).toBe(400);
    expect((await errorOf(again)).error).toBe('invalid_link');
  });

  it('a verification link expires after EMAIL_TOKEN_TTL (test clock)', async () => {
    const { mail, c } = setup({ EMAIL_TOKEN_TTL: '600' });
    const email = uniqueEmail();
    await c.request('POST', '/auth/register', { json: { username: uniqueName('exp'), password: 'correct horse battery', email } });
    const token = tokenIn(mail.last(email));
    c.clock.advance(600);
    const res = await c.request('POST', '/auth/email/verify', { json: { token } });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).error).toBe('invalid_link');
  });

  it('a signed-in user can ask for a new link; only the newest works; a verified address is refused', async () => {
    const { mail, c } = setup();
    const email = uniqueEmail();
    const username = uniqueName('again');
    await c.request('POST', '/auth/register', { json: { username, password: 'correct horse battery', email } });
    const first = tokenIn(mail.last(email));
    const { access_token } = await c.login(username, 'correct horse battery');
    const res = await c.request('POST', '/auth/email/verify/request', { token: access_token });
    expect(res.status).toBe(202);
    const second = tokenIn(mail.last(email));
    expect(second).not.toBe(first);
    expect((await c.request('POST', '/auth/email/verify', { json: { token: first } })).status).toBe(400);
    expect((await c.request('POST', '/auth/email/verify', { json: { token: second } })).status).toBe(200);
    const me = (await (await c.request('GET', '/auth/me', { token: access_token })).json()) as { user: { email_verified: boolean } };
    expect(me.user.email_verified).toBe(true);
    const done = await c.request('POST', '/auth/email/verify/request', { token: access_token });
    expect(done.status).toBe(409);
    expect((await errorOf(done)).error).toBe('email_already_verified');
  });

  it('one account per verified address: a second account cannot verify an address another one verified', async () => {
    const { mail, c } = setup();
    const owner = await verifiedUser(c, mail);
    const res = await c.request('POST', '/auth/register', { json: { username: uniqueName('copy'), password: 'correct horse battery', email: owner.email.toUpperCase() } });
    expect(res.status).toBe(201); // registration says nothing about the address
    const verify = await c.request('POST', '/auth/email/verify', { json: { token: tokenIn(mail.last(owner.email.toUpperCase())) } });
    expect(verify.status).toBe(409);
    expect((await errorOf(verify)).error).toBe('email_taken');
  });
});

describe('sign-in with a verified email address', () => {
  it('signs in by verified address (any case); an unverified address is an unknown user', async () => {
    const { mail, c } = setup();
    const user = await verifiedUser(c, mail);
    const byEmail = await c.request('POST', '/auth/login', { json: { username: user.email.toUpperCase(), password: user.password } });
    expect(byEmail.status).toBe(200);
    expect(((await byEmail.json()) as { user: { id: string } }).user.id).toBe(user.id);
    const wrong = await c.request('POST', '/auth/login', { json: { username: user.email, password: 'wrong password!' } });
    expect(wrong.status).toBe(401);
    const email = uniqueEmail();
    await c.request('POST', '/auth/register', { json: { username: uniqueName('unv'), password: 'correct horse battery', email } });
    const unverified = await c.request('POST', '/auth/login', { json: { username: email, password: 'correct horse battery' } });
    expect(unverified.status).toBe(401);
    expect((await errorOf(unverified)).error).toBe('invalid_credentials');
  });

  it('a login by verified address takes 2 sequential D1 round trips, as by username', async () => {
    const { mail, c } = setup();
    const user = await verifiedUser(c, mail);
    const counted = countingD1(c.env.DB);
    const measured = new Client({ ...c.env, DB: counted.db }, c.clock);
    await measured.login(user.username, user.password); // warm: the key ring is loaded once per isolate
    const rounds: Record<string, number> = {};
    for (const [label, identifier] of [['username', user.username], ['email', user.email]] as const) {
      counted.reset();
      await measured.login(identifier, user.password);
      rounds[label] = counted.rounds();
    }
    expect(rounds).toEqual({ username: 2, email: 2 });
  });

  it('REQUIRE_VERIFIED_EMAIL=true: 403 email_unverified only after the right password, with a new link; then sign-in works', async () => {
    const { mail, c } = setup({ REQUIRE_VERIFIED_EMAIL: 'true' });
    const missing = await c.request('POST', '/auth/register', { json: { username: uniqueName('nomail'), password: 'correct horse battery' } });
    expect(missing.status).toBe(400);
    const email = uniqueEmail();
    const username = uniqueName('req');
    await c.request('POST', '/auth/register', { json: { username, password: 'correct horse battery', email } });
    expect(mail.to(email)).toHaveLength(1);
    const wrong = await c.request('POST', '/auth/login', { json: { username, password: 'wrong password!' } });
    expect(wrong.status).toBe(401);
    expect(mail.to(email)).toHaveLength(1);
    const refused = await c.request('POST', '/auth/login', { json: { username, password: 'correct horse battery' } });
    expect(refused.status).toBe(403);
    expect((await errorOf(refused)).error).toBe('email_unverified');
    expect(mail.to(email)).toHaveLength(2);
    expect((await c.request('POST', '/auth/email/verify', { json: { token: tokenIn(mail.last(email)) } })).status).toBe(200);
    expect((await c.request('POST', '/auth/login', { json: { username, password: 'correct horse battery' } })).status).toBe(200);
  });
});

describe('password reset', () => {
  it('forgot answers identically for a known and an unknown account (status, body, headers but the request id)', async () => {
    const { mail, c } = setup();
    const user = await verifiedUser(c, mail);
    const before = mail.sent.length;
    const answers = [];
    for (const json of [{ email: user.email }, { email: uniqueEmail('nobody') }, { username: user.username }, { username: uniqueName('nobody') }, { username: 'not a username!' }]) {
      const res = await c.request('POST', '/auth/password/forgot', { json });
      const headers = [...res.headers].filter(([name]) => name !== 'x-request-id');
      answers.push({ status: res.status, body: await res.text(), headers });
    }
    for (const answer of answers) expect(answer).toEqual(answers[0]);
    expect(answers[0]!.status).toBe(202);
    // Only the two requests for the real account sent a link, to its verified address.
    expect(mail.sent.slice(before).map((m) => m.to)).toEqual([user.email, user.email]);
  });

  it('an unverified address gets no reset link', async () => {
    const { mail, c } = setup();
    const email = uniqueEmail();
    const username = uniqueName('nolink');
    await c.request('POST', '/auth/register', { json: { username, password: 'correct horse battery', email } });
    const before = mail.sent.length;
    expect((await c.request('POST', '/auth/password/forgot', { json: { username } })).status).toBe(202);
    expect(mail.sent.length).toBe(before);
  });

  it('a reset sets the password, ends every session (access and refresh), sends a notice, and works once', async () => {
    const { mail, c } = setup();
    const user = await verifiedUser(c, mail);
    const a = await c.login(user.username, user.password);
    const b = await c.login(user.email, user.password);
    expect((await c.request('POST', '/auth/password/forgot', { json: { email: user.email } })).status).toBe(202);
    const reset = mail.last(user.email);
    expect(reset.subject).toBe('edge-auth: reset your password');
    expect(reset.text).toContain('http://localhost:8787/reset-password#token=');
    const token = tokenIn(reset);
    const res = await c.request('POST', '/auth/password/reset', { json: { token, new_password: 'a brand new password' } });
    expect(res.status).toBe(204);
    expect(mail.last(user.email).subject).toBe('edge-auth: your password was reset');
    for (const session of [a, b]) {
      expect((await c.request('GET', '/api/private', { token: session.access_token })).status).toBe(401);
      expect((await c.request('POST', '/auth/refresh', { json: { refresh_token: session.refresh_token } })).status).toBe(401);
    }
    expect((await c.request('POST', '/auth/login', { json: { username: user.username, password: user.password } })).status).toBe(401);
    expect((await c.request('POST', '/auth/login', { json: { username: user.username, password: 'a brand new password' } })).status).toBe(200);
    const again = await c.request('POST', '/auth/password/reset', { json: { token, new_password: 'yet another password' } });
    expect(again.status).toBe(400);
    expect((await errorOf(again)).error).toBe('invalid_link');
  });

  it('two resets with one token at once: exactly one wins', async () => {
    const { mail, c } = setup();
    const user = await verifiedUser(c, mail);
    await c.request('POST', '/auth/password/forgot', { json: { username: user.username } });
    const token = tokenIn(mail.last(user.email));
    const [r1, r2] = await Promise.all([
      c.request('POST', '/auth/password/reset', { json: { token, new_password: 'first new password' } }),
      c.request('POST', '/auth/password/reset', { json: { token, new_password: 'second new password' } }),
    ]);
    expect([r1.status, r2.status].sort()).toEqual([204, 400]);
    const winner = r1.status === 204 ? 'first new password' : 'second new password';
    const loser = r1.status === 204 ? 'second new password' : 'first new password';
    expect((await c.request('POST', '/auth/login', { json: { username: user.username, password: winner } })).status).toBe(200);
    expect((await c.request('POST', '/auth/login', { json: { username: user.username, password: loser } })).status).toBe(401);
  });

  it('a reset link expires (test clock) and is void after a password change', async () => {
    const { mail, c } = setup();
    const user = await verifiedUser(c, mail);
    await c.request('POST', '/auth/password/forgot', { json: { username: user.username } });
    const expiring = tokenIn(mail.last(user.email));
    c.clock.advance(1800);
    expect((await c.request('POST', '/auth/password/reset', { json: { token: expiring, new_password: 'a brand new password' } })).status).toBe(400);

    await c.request('POST', '/auth/password/forgot', { json: { username: user.username } });
    const stale = tokenIn(mail.last(user.email));
    const { access_token } = await c.login(user.username, user.password);
    const change = await c.request('POST', '/auth/password', { token: access_token, json: { current_password: user.password, new_password: 'changed by hand now' } });
    expect(change.status).toBe(204);
    const res = await c.request('POST', '/auth/password/reset', { json: { token: stale, new_password: 'a brand new password' } });
    expect(res.status).toBe(400);
    expect((await c.request('POST', '/auth/login', { json: { username: user.username, password: 'changed by hand now' } })).status).toBe(200);
  });

  it('bad reset input is a clear 400, never a 5xx', async () => {
    const { c } = setup();
    for (const json of [{}, { token: 'x' }, { token: 'x'.repeat(129), new_password: 'long enough password' }, { token: 'nope', new_password: 'short' }, { token: 1, new_password: 'long enough password' }]) {
      const res = await c.request('POST', '/auth/password/reset', { json });
      expect(res.status).toBe(400);
    }
    const unknown = await c.request('POST', '/auth/password/reset', { json: { token: 'A'.repeat(43), new_password: 'long enough password' } });
    expect((await errorOf(unknown)).error).toBe('invalid_link');
    const both = await c.request('POST', '/auth/password/forgot', { json: { email: uniqueEmail(), username: 'someone' } });
    expect(both.status).toBe(400);
  });
});

describe('email change', () => {
  it('needs the current password, mails a link to the new address and a notice to the old; changes only on confirmation', async () => {
    const { mail, c } = setup();
    const user = await verifiedUser(c, mail);
    const { access_token } = await c.login(user.username, user.password);
    const next = uniqueEmail('new');
    const wrong = await c.request('POST', '/auth/email', { token: access_token, json: { new_email: next, current_password: 'not the password' } });
    expect(wrong.status).toBe(401);
    expect(mail.to(next)).toHaveLength(0);
    const res = await c.request('POST', '/auth/email', { token: access_token, json: { new_email: next, current_password: user.password } });
    expect(res.status).toBe(202);
    expect(mail.last(user.email).subject).toBe('edge-auth: a change of your email address was requested');
    expect(mail.last(user.email).text).not.toContain('#token=');
    const me = async () => ((await (await c.request('GET', '/auth/me', { token: access_token })).json()) as { user: { email: string; email_verified: boolean } }).user;
    expect((await me()).email).toBe(user.email);
    const confirm = await c.request('POST', '/auth/email/verify', { json: { token: tokenIn(mail.last(next)) } });
    expect(confirm.status).toBe(200);
    expect(await confirm.json()).toEqual({ email: next, email_verified: true, changed: true });
    expect(await me()).toMatchObject({ email: next, email_verified: true });
    expect((await c.request('POST', '/auth/login', { json: { username: next, password: user.password } })).status).toBe(200);
    expect((await c.request('POST', '/auth/login', { json: { username: user.email, password: user.password } })).status).toBe(401);
  });
});

describe('mail abuse limits', () => {
  it('forgot is throttled per address (429 after 3 a minute, whatever the client address)', async () => {
    const { c } = setup();
    await inOneWindow(60, async () => {
      const email = uniqueEmail('bomb');
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await c.request('POST', '/auth/password/forgot', { json: { email } })).status);
      expect(statuses).toEqual([202, 202, 202, 429]);
    });
  });

  it('mail routes are throttled per client address (RL_EMAIL_IP: 10 a minute)', async () => {
    const { c } = setup();
    await inOneWindow(60, async () => {
      const ip = randomTestIp();
      const statuses = [];
      for (let i = 0; i < 11; i++) {
        statuses.push((await c.request('POST', '/auth/password/forgot', { json: { email: uniqueEmail('ip') }, headers: { 'CF-Connecting-IP': ip } })).status);
      }
      expect(statuses.slice(0, 10).every((s) => s === 202)).toBe(true);
      expect(statuses[10]).toBe(429);
    });
  });

  it('an address receives at most 5 links an hour (D1, exact across locations)', async () => {
    expect(MAIL_PER_ADDRESS_PER_HOUR).toBe(5); // the name above states it
    const { mail, c } = setup();
    const user = await verifiedUser(c, mail);
    const emailKey = user.email;
    const issued = [];
    // The verification link of verifiedUser() already counted.
    for (let i = 0; i < MAIL_PER_ADDRESS_PER_HOUR; i++) {
      issued.push(await issueEmailToken(c.env.DB, { kind: 'reset', userId: user.id, email: user.email, emailKey, passwordGeneration: 0 }, 1800, c.clock.seconds));
    }
    expect(issued.filter((t) => t !== undefined)).toHaveLength(MAIL_PER_ADDRESS_PER_HOUR - 1);
    expect(issued.at(-1)).toBeUndefined();
    expect(await issueEmailToken(c.env.DB, { kind: 'reset', userId: user.id, email: user.email, emailKey, passwordGeneration: 0 }, 1800, c.clock.seconds + 3601)).toBeTypeOf('string');
  });
});

describe('clean-up', () => {
  it('deletes link tokens once expired and out of the throttle hour, not before', async () => {
    const { mail, c } = setup();
    const user = await verifiedUser(c, mail);
    const now = c.clock.seconds;
    const count = async () => (await c.env.DB.prepare('SELECT count(*) AS n FROM email_tokens WHERE user_id = ?').bind(user.id).first<{ n: number }>())!.n;
    expect(await count()).toBe(1);
    await runCleanup(c.env.DB, c.config, now + 1801);
    expect(await count()).toBe(1); // expired, but still counted by the hourly budget
    const result = await runCleanup(c.env.DB, c.config, now + 3601);
    expect(result.emailTokens).toBeGreaterThanOrEqual(1);
    expect(await count()).toBe(0);
  });
});

describe('the mailer', () => {
  it('retries a failed send a bounded number of times and logs no address, token or link', async () => {
    const { mail, c } = setup();
    const logs: string[] = [];
    for (const level of ['log', 'warn', 'error'] as const) vi.spyOn(console, level).mockImplementation((line: unknown) => void logs.push(String(line)));
    mail.failures = 2;
    const email = uniqueEmail('retry');
    const res = await c.request('POST', '/auth/register', { json: { username: uniqueName('retry'), password: 'correct horse battery', email } });
    expect(res.status).toBe(201);
    expect(mail.calls).toBe(3);
    expect(mail.to(email)).toHaveLength(1);

    mail.failures = 10;
    const lost = uniqueEmail('lost');
    const res2 = await c.request('POST', '/auth/register', { json: { username: uniqueName('lost'), password: 'correct horse battery', email: lost } });
    expect(res2.status).toBe(201); // the answer never depends on the mail
    expect(mail.calls).toBe(6);
    const failed = logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === 'mail.failed');
    expect(failed).toEqual([expect.objectContaining({ level: 'error', template: 'verify', attempts: 3, cause: 'Error' })]);
    const all = logs.join('\n');
    expect(all).not.toContain(email);
    expect(all).not.toContain(lost);
    expect(all).not.toContain('#token=');
  });

  it('a deployment without the send_email binding refuses the mail routes as misconfigured', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const c = new Client(mailEnv(undefined as unknown as CapturedMail));
    const res = await c.request('POST', '/auth/password/forgot', { json: { email: uniqueEmail() } });
    expect(res.status).toBe(500);
    expect((await errorOf(res)).error).toBe('misconfigured');
  });
});

describe('the development mailbox', () => {
  it('lists the mails sent in development, by recipient; refused outside development', async () => {
    const { mail, c } = setup();
    const email = uniqueEmail('box');
    await c.request('POST', '/auth/register', { json: { username: uniqueName('box'), password: 'correct horse battery', email } });
    const res = await c.request('GET', `/auth/dev/mailbox?to=${encodeURIComponent(email)}`);
    expect(res.status).toBe(200);
    const { messages } = (await res.json()) as { messages: { to: string; subject: string; text: string; html: string }[] };
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ to: email, subject: mail.last(email).subject, text: mail.last(email).text });

    const prod = new Client(
      mailEnv(new CapturedMail(), {
        ENVIRONMENT: 'production',
        JWT_ISSUER: 'https://auth.example.com',
        JWT_AUDIENCE: 'edge-auth',
        KEY_ENCRYPTION_KEY: 'prod-like-kek-Vq3x9Zr2LmN8pT4sW7yB1cD6fG0hJ5kQ',
        MAIL_FROM: 'no-reply@example.com',
        GATEWAY_ROUTES: [],
      }),
    );
    const refused = await prod.request('GET', '/auth/dev/mailbox');
    expect(refused.status).toBe(404);
    expect((await errorOf(refused)).error).toBe('not_found');
  });
});
