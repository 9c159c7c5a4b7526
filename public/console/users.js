// @ts-check
// Users: search by username prefix (GET /admin/users), and one user's page: roles, email, disable,
// unlock, delete (PATCH/POST/DELETE /admin/users/:id), their sessions (GET, DELETE
// /admin/users/:id/sessions), API keys (GET /admin/users/:id/api-keys, DELETE /admin/api-keys/:id)
// and second factors (GET /admin/users/:id/mfa, POST .../mfa/reset).
import { $, button, cells, dangerButton, formatTime, formValues, guarded, h, setStatus, splitList, table } from './dom.js';

/**
 * @typedef {{ id: string, username: string, email: string | null, roles: string[], created_at: number,
 *   disabled: boolean, failed_logins: number, locked_until: number | null, updated_at: number }} AdminUser
 * @typedef {{ id: string, created_at: number, last_used_at: number | null, expires_at: number, user_agent: string | null, ip: string | null }} AdminSession
 * @typedef {{ id: string, name: string, prefix: string, roles: string[], created_at: number, last_used_at: number | null, expires_at: number }} ApiKey
 * @typedef {{ methods: string[], totp: string, recovery_codes_left: number, passkeys: number }} MfaStatus
 * @typedef {{ showAudit: (filters: Record<string, string>) => void, showUsage: (subject: string) => void }} Nav
 */

/**
 * @param {import('../js/edge-auth-client.js').AuthClient} auth
 * @param {Nav} nav
 */
export function createUsersView(auth, nav) {
  const form = /** @type {HTMLFormElement} */ ($('user-search'));
  const list = $('users-list');
  const more = /** @type {HTMLButtonElement} */ ($('users-more'));
  const detail = $('user-detail');
  /** @type {AdminUser[]} */
  let users = [];
  /** @type {string | null} */
  let nextCursor = null;
  let prefix = '';

  /** @param {boolean} append */
  async function load(append) {
    const q = new URLSearchParams({ limit: '50' });
    if (prefix) q.set('username_prefix', prefix);
    if (append && nextCursor) q.set('cursor', nextCursor);
    /** @type {{ users: AdminUser[], next_cursor: string | null }} */
    const page = await auth.request(`/admin/users?${q}`);
    users = append ? [...users, ...page.users] : page.users;
    nextCursor = page.next_cursor;
    renderList();
  }

  function renderList() {
    list.replaceChildren(
      table(['Username', 'Email', 'Roles', 'State', 'Created'], users, (u) => {
        const open = h('button', { type: 'button', className: 'link', textContent: u.username });
        open.addEventListener('click', () => void guarded(open, () => openUser(u.id)));
        const tr = h('tr', { dataset: { userId: u.id, username: u.username } }, ...cells(open, u.email ?? '–', u.roles.join(', ') || '–', stateOf(u), formatTime(u.created_at)));
        return tr;
      }, prefix ? `No user name starts with "${prefix}".` : 'No users.'),
    );
    more.hidden = nextCursor === null;
  }

  /** @param {AdminUser} u */
  function stateOf(u) {
    const parts = [];
    if (u.disabled) parts.push('disabled');
    if (u.locked_until && u.locked_until * 1000 > Date.now()) parts.push(`locked until ${formatTime(u.locked_until)}`);
    if (u.failed_logins) parts.push(`${u.failed_logins} failed sign-in(s)`);
    return parts.join(', ') || 'active';
  }

  /** @param {string} id */
  async function openUser(id) {
    /** @type {{ user: AdminUser }} */
    const { user } = await auth.request(`/admin/users/${encodeURIComponent(id)}`);
    await renderUser(user);
    detail.scrollIntoView({ block: 'nearest' });
  }

  /** Replaces one row of the list after a change, without losing the page position. @param {AdminUser} user */
  function updateRow(user) {
    users = users.map((u) => (u.id === user.id ? user : u));
    renderList();
  }

  /** @param {AdminUser} user */
  async function renderUser(user) {
    const base = `/admin/users/${encodeURIComponent(user.id)}`;
    /** @param {Record<string, unknown>} patch @param {string} done */
    const patch = async (patch, done) => {
      /** @type {{ user: AdminUser }} */
      const res = await auth.request(base, { method: 'PATCH', body: patch });
      updateRow(res.user);
      setStatus(done, 'ok');
      await renderUser(res.user);
    };

    const facts = h(
      'dl',
      { className: 'kv' },
      ...[
        ['id', user.id],
        ['username', user.username],
        ['email', user.email ?? '–'],
        ['roles', user.roles.join(', ') || '–'],
        ['state', stateOf(user)],
        ['created', formatTime(user.created_at)],
        ['updated', formatTime(user.updated_at)],
      ].flatMap(([k, v]) => [h('dt', { textContent: k }), h('dd', { textContent: v, dataset: { field: k } })]),
    );

    const rolesInput = h('input', { id: 'user-roles', name: 'roles', value: user.roles.join(', '), autocomplete: 'off' });
    const rolesForm = h('form', { className: 'row inline' }, h('label', {}, 'Roles (comma-separated; replaces the list)', rolesInput), h('button', { type: 'submit', id: 'user-roles-save', textContent: 'Save roles' }));
    rolesForm.addEventListener('submit', (e) => {
      e.preventDefault();
      const roles = splitList(rolesInput.value);
      void guarded(/** @type {HTMLButtonElement} */ ($('user-roles-save')), () => patch({ roles }, `Roles of ${user.username}: ${roles.join(', ') || 'none'}. Their sessions were ended.`));
    });

    const emailInput = h('input', { id: 'user-email', name: 'email', type: 'email', value: user.email ?? '', autocomplete: 'off' });
    const emailForm = h('form', { className: 'row inline' }, h('label', {}, 'Email (empty clears it)', emailInput), h('button', { type: 'submit', id: 'user-email-save', className: 'secondary', textContent: 'Save email' }));
    emailForm.addEventListener('submit', (e) => {
      e.preventDefault();
      const email = emailInput.value.trim() || null;
      void guarded(/** @type {HTMLButtonElement} */ ($('user-email-save')), () => patch({ email }, `Email of ${user.username} saved.`));
    });

    const actions = h(
      'div',
      { className: 'row' },
      user.disabled
        ? button('Enable', () => patch({ disabled: false }, `${user.username} is enabled (old sessions stay ended).`))
        : dangerButton('Disable', () => patch({ disabled: true }, `${user.username} is disabled; their sessions were ended.`)),
      button('Unlock', async () => {
        /** @type {{ user: AdminUser }} */
        const res = await auth.request(`${base}/unlock`, { method: 'POST' });
        updateRow(res.user);
        setStatus(`${user.username} is unlocked.`, 'ok');
        await renderUser(res.user);
      }),
      button('Audit events', () => nav.showAudit({ user: user.id })),
      button('Usage', () => nav.showUsage(`user:${user.id}`)),
      dangerButton('Delete user', async () => {
        await auth.request(base, { method: 'DELETE' });
        users = users.filter((u) => u.id !== user.id);
        renderList();
        detail.replaceChildren();
        detail.hidden = true;
        setStatus(`${user.username} was deleted.`, 'ok');
      }),
    );

    const sessions = h('div', { id: 'user-sessions' });
    const keys = h('div', { id: 'user-api-keys' });
    const mfa = h('div', { id: 'user-mfa' });
    detail.replaceChildren(
      h('h2', {}, 'User ', h('span', { className: 'muted', textContent: user.username })),
      facts,
      rolesForm,
      emailForm,
      actions,
      h('h3', { textContent: 'Sessions' }),
      sessions,
      h('h3', { textContent: 'API keys' }),
      keys,
      h('h3', { textContent: 'Second factors' }),
      mfa,
    );
    detail.dataset.userId = user.id;
    detail.hidden = false;
    await Promise.all([loadSessions(user, sessions), loadKeys(user, keys), loadMfa(user, mfa)]);
  }

  /** @param {AdminUser} user @param {HTMLElement} box */
  async function loadSessions(user, box) {
    const base = `/admin/users/${encodeURIComponent(user.id)}/sessions`;
    /** @type {{ sessions: AdminSession[] }} */
    const { sessions } = await auth.request(base);
    box.replaceChildren(
      table(['Device', 'IP', 'Started', 'Last used', 'Expires'], sessions, (s) =>
        h('tr', { dataset: { sessionId: s.id } }, ...cells(s.user_agent || 'unknown device', s.ip || '–', formatTime(s.created_at), formatTime(s.last_used_at), formatTime(s.expires_at))),
        'No live session.',
      ),
      sessions.length
        ? dangerButton(`End all ${sessions.length} session(s)`, async () => {
            /** @type {{ sessions_ended: number }} */
            const res = await auth.request(base, { method: 'DELETE' });
            setStatus(`${res.sessions_ended} session(s) of ${user.username} ended.`, 'ok');
            await loadSessions(user, box);
          })
        : '',
      h('p', { className: 'muted small', textContent: 'The admin API ends a user\'s sessions all together; one session is ended by its owner.' }),
    );
  }

  /** @param {AdminUser} user @param {HTMLElement} box */
  async function loadKeys(user, box) {
    /** @type {{ api_keys: ApiKey[] }} */
    const { api_keys } = await auth.request(`/admin/users/${encodeURIComponent(user.id)}/api-keys`);
    box.replaceChildren(
      table(['Name', 'Prefix', 'Roles', 'Created', 'Last used', 'Expires', ''], api_keys, (k) =>
        h(
          'tr',
          { dataset: { keyId: k.id } },
          ...cells(
            k.name,
            k.prefix,
            k.roles.join(', ') || '–',
            formatTime(k.created_at),
            formatTime(k.last_used_at),
            formatTime(k.expires_at),
            h(
              'span',
              { className: 'row' },
              button('Usage', () => nav.showUsage(`api_key:${k.id}`)),
              dangerButton('Revoke', async () => {
                await auth.request(`/admin/api-keys/${encodeURIComponent(k.id)}`, { method: 'DELETE' });
                setStatus(`API key "${k.name}" revoked.`, 'ok');
                await loadKeys(user, box);
              }),
            ),
          ),
        ),
        'No API key.',
      ),
    );
  }

  /** @param {AdminUser} user @param {HTMLElement} box */
  async function loadMfa(user, box) {
    const base = `/admin/users/${encodeURIComponent(user.id)}/mfa`;
    /** @type {MfaStatus} */
    const status = await auth.request(base);
    const any = status.totp !== 'disabled' || status.passkeys > 0;
    box.replaceChildren(
      h('p', { textContent: `Authenticator app: ${status.totp}; recovery codes left: ${status.recovery_codes_left}; passkeys: ${status.passkeys}.` }),
      any
        ? dangerButton('Reset second factors', async () => {
            /** @type {{ totp_removed: boolean, passkeys_removed: number }} */
            const res = await auth.request(`${base}/reset`, { method: 'POST' });
            setStatus(`Second factors of ${user.username} reset (authenticator removed: ${res.totp_removed ? 'yes' : 'no'}, passkeys removed: ${res.passkeys_removed}).`, 'ok');
            await loadMfa(user, box);
          })
        : '',
    );
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    prefix = formValues(form).username_prefix ?? '';
    void guarded(/** @type {HTMLButtonElement} */ ($('user-search-submit')), () => load(false));
  });
  more.addEventListener('click', () => void guarded(more, () => load(true)));

  return {
    /** First look at the tab. */
    show: () => (users.length ? Promise.resolve() : load(false)),
    openUser,
    reset() {
      users = [];
      nextCursor = null;
      list.replaceChildren();
      detail.replaceChildren();
      detail.hidden = true;
    },
  };
}
