// A stand-in for the send_email binding: workerd cannot deliver mail, so the tests capture what
// the code handed to `env.EMAIL.send(...)` and assert on it. It can also fail a number of sends.
import type { Env } from '../src/config';
import { Client, testEnv, uniqueName } from './helpers';

export interface SentMail {
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
}

export class CapturedMail {
  sent: SentMail[] = [];
  /** Sends still to fail (each throws), then they succeed again. */
  failures = 0;
  calls = 0;
  send = async (message: SentMail): Promise<{ messageId: string }> => {
    this.calls++;
    if (this.failures > 0) {
      this.failures--;
      throw new Error(`provider refused mail to ${message.to}`);
    }
    this.sent.push(message);
    return { messageId: `<${this.calls}@test>` };
  };

  to(address: string): SentMail[] {
    return this.sent.filter((m) => m.to === address);
  }

  last(address: string): SentMail {
    const mails = this.to(address);
    const mail = mails[mails.length - 1];
    if (!mail) throw new Error(`no mail to ${address}`);
    return mail;
  }
}

/** The token of the link in a mail's text part (the fragment after #token=). */
export function tokenIn(mail: SentMail): string {
  const match = /#token=([A-Za-z0-9_%-]+)/.exec(mail.text);
  if (!match) throw new Error('no link in the mail');
  return decodeURIComponent(match[1]!);
}

export function mailEnv(mail: CapturedMail, overrides: Parameters<typeof testEnv>[0] = {}): Env {
  return testEnv({ ...overrides, EMAIL: mail as unknown as SendEmail });
}

export function uniqueEmail(prefix = 'u'): string {
  return `${uniqueName(prefix)}@example.com`.toLowerCase();
}

/** Registers with an address and opens the verification link: a user with a verified address. */
export async function verifiedUser(c: Client, mail: CapturedMail, password = 'correct horse battery'): Promise<{ username: string; password: string; email: string; id: string }> {
  const username = uniqueName('mail');
  const email = uniqueEmail('v');
  const res = await c.request('POST', '/auth/register', { json: { username, password, email } });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${await res.text()}`);
  const { user } = (await res.json()) as { user: { id: string } };
  const verify = await c.request('POST', '/auth/email/verify', { json: { token: tokenIn(mail.last(email)) } });
  if (verify.status !== 200) throw new Error(`verify failed: ${verify.status} ${await verify.text()}`);
  return { username, password, email, id: user.id };
}

/**
 * Counts sequential D1 round trips, as bench/instrument does: a call that starts while none is in
 * flight opens a new one; calls started meanwhile (Promise.all, a batch) share it.
 */
export function countingD1(db: D1Database): { db: D1Database; rounds(): number; reset(): void } {
  let inFlight = 0;
  let rounds = 0;
  const real = new WeakMap<object, D1PreparedStatement>();
  const track = <T>(call: () => Promise<T>): Promise<T> => {
    if (inFlight++ === 0) rounds++;
    return call().finally(() => void inFlight--);
  };
  const wrap = (stmt: D1PreparedStatement): D1PreparedStatement => {
    const proxy = new Proxy(stmt, {
      get(target, prop) {
        const value = Reflect.get(target, prop) as unknown;
        if (typeof value !== 'function') return value;
        if (prop === 'bind') return (...args: unknown[]) => wrap(value.apply(target, args) as D1PreparedStatement);
        if (prop === 'first' || prop === 'all' || prop === 'run' || prop === 'raw') return (...args: unknown[]) => track(() => value.apply(target, args) as Promise<unknown>);
        return value.bind(target);
      },
    });
    real.set(proxy, stmt);
    return proxy;
  };
  const proxy = new Proxy(db, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (typeof value !== 'function') return value;
      if (prop === 'prepare') return (sql: string) => wrap(value.call(target, sql) as D1PreparedStatement);
      if (prop === 'batch') return (stmts: D1PreparedStatement[]) => track(() => value.call(target, stmts.map((s) => real.get(s) ?? s)) as Promise<unknown>);
      return value.bind(target);
    },
  });
  return { db: proxy, rounds: () => rounds, reset: () => void (rounds = 0) };
}
