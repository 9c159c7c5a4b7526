// @ts-check
// The demo's account mail pages (docs/email.md): "forgot password" (signed out), the address and
// its verification or change (signed in), and the pages the mailed links open:
//   /verify-email#token=...    confirms an address (a verification or a change link)
//   /reset-password#token=...  sets a new password
//   /mailbox                   the development mailbox (GET /auth/dev/mailbox; development only)
// The token is read from the URL fragment (never sent to a server by the browser) and the
// fragment is removed from the address bar and history at once.

/** @typedef {import('./edge-auth-client.js').AuthClient} AuthClient */
/** @typedef {import('./edge-auth-client.js').User} User */

/**
 * @param {{
 *   auth: AuthClient,
 *   el: (id: string) => HTMLElement,
 *   busy: (button: HTMLButtonElement, action: () => Promise<void>) => Promise<void>,
 *   log: (text: string) => void,
 *   setStatus: (text: string, kind?: 'ok' | 'error' | '') => void,
 *   reload: () => Promise<void>,
 * }} ui
 */
export function initEmail({ auth, el, busy, log, setStatus, reload }) {
  const input = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (el(id));
  const button = (/** @type {string} */ id) => /** @type {HTMLButtonElement} */ (el(id));
  /** @param {string} id @param {string} text @param {'ok' | 'error'} status */
  const result = (id, text, status) => {
    el(id).textContent = text;
    el(id).dataset.status = status;
  };

  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (location.hash) history.replaceState(null, '', location.pathname);
  const page = { '/verify-email': 'verify', '/reset-password': 'reset', '/mailbox': 'mailbox' }[location.pathname];
  if (page) {
    el('email-pages').hidden = false;
    el(`${page}-page`).hidden = false;
    document.body.dataset.page = page;
  }
  if ((page === 'verify' || page === 'reset') && !token) result(`${page}-result`, 'This link has no token: open the link from the mail again.', 'error');

  // ---- signed out: forgot password ------------------------------------------------------------
  el('forgot-form').addEventListener('submit', (event) => {
    event.preventDefault();
    busy(button('forgot-submit'), async () => {
      const login = input('forgot-login').value.trim();
      const body = login.includes('@') ? { email: login } : { username: login };
      const answer = /** @type {{ message: string }} */ (await auth.request('/auth/password/forgot', { method: 'POST', body, retry: false }));
      log('POST /auth/password/forgot → 202');
      result('forgot-result', answer.message, 'ok');
    });
  });

  // ---- the pages the links open -----------------------------------------------------------------
  button('verify-submit').addEventListener('click', () =>
    busy(button('verify-submit'), async () => {
      if (!token) throw new Error('This link has no token.');
      try {
        const answer = /** @type {{ email: string, changed: boolean }} */ (await auth.request('/auth/email/verify', { method: 'POST', body: { token }, retry: false }));
        log(`POST /auth/email/verify → 200 (${answer.changed ? 'address changed' : 'address verified'})`);
        result('verify-result', answer.changed ? `Your address is now ${answer.email}.` : `${answer.email} is verified.`, 'ok');
        if (auth.hasSession()) await reload();
      } catch (err) {
        result('verify-result', err instanceof Error ? err.message : String(err), 'error');
        throw err;
      }
    }),
  );

  el('reset-form').addEventListener('submit', (event) => {
    event.preventDefault();
    busy(button('reset-submit'), async () => {
      if (!token) throw new Error('This link has no token.');
      try {
        await auth.request('/auth/password/reset', { method: 'POST', body: { token, new_password: input('reset-password').value }, retry: false });
        /** @type {HTMLFormElement} */ (el('reset-form')).reset();
        log('POST /auth/password/reset → 204: every session ended');
        result('reset-result', 'Your password was changed and every session signed out. Sign in with the new password.', 'ok');
        setStatus('Password changed. Sign in with the new password.', 'ok');
      } catch (err) {
        result('reset-result', err instanceof Error ? err.message : String(err), 'error');
        throw err;
      }
    });
  });

  // ---- the development mailbox --------------------------------------------------------------------
  async function loadMailbox() {
    const { messages } = /** @type {{ messages: { id: string, to: string, subject: string, text: string }[] }} */ (
      await auth.request('/auth/dev/mailbox', { retry: false })
    );
    el('mailbox-list').replaceChildren(
      ...messages.map((m) => {
        const li = document.createElement('li');
        li.dataset.to = m.to;
        const head = document.createElement('strong');
        head.textContent = `${m.to}: ${m.subject}`;
        const body = document.createElement('pre');
        body.textContent = m.text;
        li.append(head, body);
        // Only links to this page's own origin become clickable.
        const link = /(https?:\/\/\S+#token=\S+)/.exec(m.text)?.[1];
        if (link && new URL(link).origin === location.origin) {
          const a = document.createElement('a');
          a.href = link;
          a.className = 'mail-link';
          a.textContent = 'Open the link';
          li.append(a);
        }
        return li;
      }),
    );
    el('mailbox-list').dataset.loaded = String(messages.length);
  }
  if (page === 'mailbox') {
    loadMailbox().catch((err) => result('mailbox-result', err instanceof Error ? err.message : String(err), 'error'));
  }
  button('mailbox-reload').addEventListener('click', () => busy(button('mailbox-reload'), loadMailbox));

  // ---- signed in: the address -------------------------------------------------------------------
  button('verify-request').addEventListener('click', () =>
    busy(button('verify-request'), async () => {
      await auth.request('/auth/email/verify/request', { method: 'POST' });
      log('POST /auth/email/verify/request → 202');
      result('email-result', 'A verification link is on its way.', 'ok');
    }),
  );
  el('email-form').addEventListener('submit', (event) => {
    event.preventDefault();
    busy(button('email-submit'), async () => {
      await auth.request('/auth/email', { method: 'POST', body: { new_email: input('email-new').value.trim(), current_password: input('email-password').value } });
      /** @type {HTMLFormElement} */ (el('email-form')).reset();
      log('POST /auth/email → 202');
      result('email-result', 'A confirmation link went to the new address; the old one was told.', 'ok');
    });
  });

  return {
    /** @param {User} user */
    show(user) {
      el('email-address').textContent = user.email ?? 'none';
      el('email-address').dataset.verified = String(user.email_verified);
      el('email-state').textContent = user.email === null ? '' : user.email_verified ? '(verified)' : '(not verified)';
      button('verify-request').hidden = user.email === null || user.email_verified;
    },
  };
}
