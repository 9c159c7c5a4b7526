// The account mails: a text and an HTML part each, every inserted value escaped, APP_NAME in the
// subject and the body. Links carry the token in the URL fragment (#token=...): browsers never
// send a fragment to a server, so it stays out of access logs and Referer headers.

export type MailKind = 'verify' | 'change_confirm' | 'change_notice' | 'reset' | 'reset_notice';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Which page of the SPA a link opens (public/js/email.js reads the fragment there). */
export const LINK_PATHS = { verify: '/verify-email', reset: '/reset-password' } as const;

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]!);
}

/** Text parts and subjects: no line breaks or other control characters from inserted values. */
function plain(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f]+/g, ' ');
}

/** The link of a token: APP_URL + the page, the token only in the fragment (URL-encoded). */
export function tokenLink(appUrl: string, page: keyof typeof LINK_PATHS, token: string): string {
  return `${appUrl}${LINK_PATHS[page]}#token=${encodeURIComponent(token)}`;
}

interface Parts {
  subject: string;
  /** Paragraphs, as plain text (escaped for HTML here). */
  lines: string[];
  link?: { url: string; label: string };
  footer: string;
}

function render(to: string, appName: string, parts: Parts): MailMessage {
  const name = plain(appName);
  const subject = plain(`${name}: ${parts.subject}`);
  const text = [
    ...parts.lines.map(plain),
    ...(parts.link ? [`${plain(parts.link.label)}:`, parts.link.url] : []),
    '',
    plain(parts.footer),
    `-- ${name}`,
  ].join('\n\n');
  const p = (line: string) => `<p>${escapeHtml(line)}</p>`;
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">',
    `<h1 style="font-size:1.2em">${escapeHtml(name)}</h1>`,
    ...parts.lines.map(p),
    parts.link ? `<p><a href="${escapeHtml(parts.link.url)}">${escapeHtml(parts.link.label)}</a></p><p style="font-size:.85em;color:#555">${escapeHtml(parts.link.url)}</p>` : '',
    `<p style="font-size:.85em;color:#555">${escapeHtml(parts.footer)}</p>`,
    '</body></html>',
  ].join('');
  return { to, subject, text, html };
}

const minutes = (seconds: number) => Math.max(1, Math.round(seconds / 60));
const IGNORE = 'If you did not ask for this, ignore this message: nothing changes.';
const ALARM = 'If this was not you, reset your password at once and review your sessions.';

export interface TemplateContext {
  appName: string;
  appUrl: string;
  tokenTtl: number;
}

export function verifyMail(ctx: TemplateContext, to: string, username: string, token: string): MailMessage {
  return render(to, ctx.appName, {
    subject: 'confirm your email address',
    lines: [`Hello ${username},`, `confirm that this address belongs to your account. The link works once, for ${minutes(ctx.tokenTtl)} minutes.`],
    link: { url: tokenLink(ctx.appUrl, 'verify', token), label: 'Confirm this address' },
    footer: IGNORE,
  });
}

export function changeConfirmMail(ctx: TemplateContext, to: string, username: string, token: string): MailMessage {
  return render(to, ctx.appName, {
    subject: 'confirm your new email address',
    lines: [`Hello ${username},`, `you asked to use this address for your account. The change happens when you open the link (once, within ${minutes(ctx.tokenTtl)} minutes).`],
    link: { url: tokenLink(ctx.appUrl, 'verify', token), label: 'Use this address' },
    footer: IGNORE,
  });
}

export function changeNoticeMail(ctx: TemplateContext, to: string, username: string, newEmail: string): MailMessage {
  return render(to, ctx.appName, {
    subject: 'a change of your email address was requested',
    lines: [`Hello ${username},`, `someone signed in to your account asked to replace this address with ${newEmail}. It changes only if that address confirms it.`],
    footer: ALARM,
  });
}

export function resetMail(ctx: TemplateContext, to: string, username: string, token: string): MailMessage {
  return render(to, ctx.appName, {
    subject: 'reset your password',
    lines: [`Hello ${username},`, `open the link to choose a new password. It works once, for ${minutes(ctx.tokenTtl)} minutes, and signs you out everywhere.`],
    link: { url: tokenLink(ctx.appUrl, 'reset', token), label: 'Choose a new password' },
    footer: IGNORE,
  });
}

export function resetNoticeMail(ctx: TemplateContext, to: string, username: string): MailMessage {
  return render(to, ctx.appName, {
    subject: 'your password was reset',
    lines: [`Hello ${username},`, 'the password of your account was just reset with a link sent to this address, and every session was signed out.'],
    footer: ALARM,
  });
}
