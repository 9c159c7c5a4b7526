// The development mailbox: in ENVIRONMENT=development only, every mail sent is also kept in KV
// for an hour, so the flows can be clicked through on a laptop (GET /auth/dev/mailbox, the demo
// SPA's "Mailbox" page). It holds live links, which is why it exists nowhere else: the route and
// the writes both check the environment.
import type { MailMessage } from './templates';

export const DEV_MAILBOX_PREFIX = 'devmail:';
/** KV rejects expirations under 60 s; an hour is plenty to click a link. */
export const DEV_MAILBOX_TTL_SECONDS = 3600;
/** Newest first, at most this many. */
export const DEV_MAILBOX_LIMIT = 50;
// Keys sort ascending: an inverted timestamp lists the newest first.
const INVERT = 10 ** 13;

export interface DevMail extends MailMessage {
  id: string;
  from: string;
  at: number;
}

export async function keepDevMail(kv: KVNamespace, mail: Omit<DevMail, 'id'>, nowMs: number): Promise<void> {
  const id = `${String(INVERT - nowMs).padStart(13, '0')}-${crypto.randomUUID()}`;
  await kv.put(DEV_MAILBOX_PREFIX + id, JSON.stringify({ ...mail, id }), { expirationTtl: DEV_MAILBOX_TTL_SECONDS });
}

/** The newest messages, optionally only those to `to` (compared case-insensitively). */
export async function readDevMailbox(kv: KVNamespace, to?: string): Promise<DevMail[]> {
  const listed = await kv.list({ prefix: DEV_MAILBOX_PREFIX, limit: 100 });
  // A bulk get takes at most 100 keys: the newest 100 are searched for `to`.
  const names = listed.keys.map((k) => k.name).slice(0, to ? 100 : DEV_MAILBOX_LIMIT);
  const values = names.length ? await kv.get(names, 'json') : new Map<string, unknown>();
  const mails: DevMail[] = [];
  for (const name of names) {
    const mail = values.get(name) as DevMail | null | undefined;
    if (!mail) continue;
    if (to && mail.to.toLowerCase() !== to.toLowerCase()) continue;
    mails.push(mail);
    if (mails.length >= DEV_MAILBOX_LIMIT) break;
  }
  return mails;
}
