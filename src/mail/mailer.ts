// Sending account mail. The transport is an interface so an HTTP provider can be added later;
// the one in use is Cloudflare Email Service through the `send_email` binding (EMAIL). Sending never
// blocks or changes an answer: it runs in waitUntil, retried a bounded number of times, and a
// failure is logged by template name and error name only (never the address, token or link).
import type { Config, Env } from '../config';
import { ConfigError } from '../config';
import { log } from '../lib/log';
import { keepDevMail } from './dev-mailbox';
import type { MailKind, MailMessage } from './templates';

export interface OutgoingMail extends MailMessage {
  from: string;
}

/** Delivers one message or throws. */
export interface MailTransport {
  send(mail: OutgoingMail): Promise<void>;
}

/** Cloudflare Email Service: `env.EMAIL.send({to, from, subject, text, html})`. */
export function emailServiceTransport(binding: SendEmail): MailTransport {
  return {
    async send(mail) {
      await binding.send({ to: mail.to, from: mail.from, subject: mail.subject, text: mail.text, html: mail.html });
    },
  };
}

/** Attempts per message, and the pause before each retry (bounded: the whole send is ~1.5 s at worst). */
export const MAIL_ATTEMPTS = 3;
export const MAIL_RETRY_DELAYS_MS = [250, 1000] as const;

/**
 * The transport of this deployment. A missing binding is a misconfiguration answered before any
 * token is issued (the routes that send mail call this first), never a silently dropped mail.
 */
export function transportOf(env: Env): MailTransport {
  const binding = env.EMAIL;
  if (typeof binding !== 'object' || binding === null || typeof binding.send !== 'function') {
    throw new ConfigError('EMAIL', 'the send_email binding is missing (add [[send_email]] name = "EMAIL" to this environment; docs/email.md)');
  }
  return emailServiceTransport(binding);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Sends with bounded retries; resolves whatever happens (failures are logged). */
export async function deliver(
  transport: MailTransport,
  env: Env,
  config: Config,
  kind: MailKind,
  message: MailMessage,
  requestId: string,
): Promise<boolean> {
  const mail: OutgoingMail = { ...message, from: config.email.from };
  if (config.environment === 'development') {
    await keepDevMail(env.KV, { ...mail, at: Math.floor(Date.now() / 1000) }, Date.now()).catch((err: unknown) => {
      log('warn', 'mail.dev_mailbox_failed', { requestId, template: kind, cause: err instanceof Error ? err.name : 'non-error thrown' });
    });
  }
  for (let attempt = 1; attempt <= MAIL_ATTEMPTS; attempt++) {
    try {
      await transport.send(mail);
      log('info', 'mail.sent', { requestId, template: kind, attempt });
      return true;
    } catch (err) {
      // The error's name only: a provider's message may quote the recipient.
      const cause = err instanceof Error ? err.name : 'non-error thrown';
      if (attempt === MAIL_ATTEMPTS) {
        log('error', 'mail.failed', { requestId, template: kind, attempts: attempt, cause });
        return false;
      }
      log('warn', 'mail.retry', { requestId, template: kind, attempt, cause });
      await sleep(MAIL_RETRY_DELAYS_MS[attempt - 1] ?? 1000);
    }
  }
  return false;
}

/** Where background work goes: the request's waitUntil. */
export type Defer = (work: Promise<unknown>) => void;
