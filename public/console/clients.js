// @ts-check
// Service clients (docs/machine-clients.md): list (GET /admin/clients), create (POST), rename and
// change roles, disable or enable (PATCH /admin/clients/:id), rotate the secret (POST .../rotate-secret), delete.
// A new secret is the one value the console must hand over: it goes into a password field (not
// drawn as text), with Copy and Forget buttons, and is dropped from the page when forgotten or
// when another secret replaces it. Only its hash is kept by the service.
import { $, button, cells, dangerButton, formatTime, formValues, guarded, h, setStatus, splitList, table } from './dom.js';

/**
 * @typedef {{ client_id: string, name: string, roles: string[], disabled: boolean, secret_rotated: boolean,
 *   previous_secret_expires_at: number | null, locked_until: number | null, created_at: number, updated_at: number }} Client
 * @typedef {{ showUsage: (subject: string) => void }} Nav
 */

/**
 * @param {import('../js/edge-auth-client.js').AuthClient} auth
 * @param {Nav} nav
 */
export function createClientsView(auth, nav) {
  const form = /** @type {HTMLFormElement} */ ($('client-create'));
  const list = $('clients-list');
  const more = /** @type {HTMLButtonElement} */ ($('clients-more'));
  const secretBox = $('client-secret');
  /** @type {Client[]} */
  let clients = [];
  /** @type {string | null} */
  let nextCursor = null;

  /** @param {boolean} append */
  async function load(append) {
    const q = new URLSearchParams({ limit: '50' });
    if (append && nextCursor) q.set('cursor', nextCursor);
    /** @type {{ clients: Client[], next_cursor: string | null }} */
    const page = await auth.request(`/admin/clients?${q}`);
    clients = append ? [...clients, ...page.clients] : page.clients;
    nextCursor = page.next_cursor;
    render();
  }

  /** Shows a secret once, in a password field. @param {Client} client @param {string} secret @param {string} why */
  function showSecret(client, secret, why) {
    const field = h('input', { type: 'password', readOnly: true, value: secret, id: 'client-secret-value', autocomplete: 'off', ariaLabel: 'client secret' });
    const reveal = button('Show', () => {
      field.type = field.type === 'password' ? 'text' : 'password';
      reveal.textContent = field.type === 'password' ? 'Show' : 'Hide';
    });
    secretBox.replaceChildren(
      h('p', {}, h('strong', { textContent: why }), ` Client id `, h('code', { textContent: client.client_id }), '. The secret is shown this once: the service keeps only its hash.'),
      field,
      h(
        'div',
        { className: 'row' },
        reveal,
        button('Copy', async () => {
          await navigator.clipboard.writeText(field.value);
          setStatus('Secret copied to the clipboard.', 'ok');
        }),
        button('Forget it', forgetSecret),
      ),
    );
    secretBox.hidden = false;
  }

  function forgetSecret() {
    secretBox.replaceChildren();
    secretBox.hidden = true;
  }

  /** @param {Client} client */
  function replace(client) {
    clients = clients.map((c) => (c.client_id === client.client_id ? client : c));
    render();
  }

  function render() {
    list.replaceChildren(
      table(['Name', 'Client id', 'Roles', 'State', 'Created', ''], clients, (c) => {
        const base = `/admin/clients/${encodeURIComponent(c.client_id)}`;
        const state = [c.disabled ? 'disabled' : 'active'];
        if (c.secret_rotated && c.previous_secret_expires_at) state.push(`previous secret valid until ${formatTime(c.previous_secret_expires_at)}`);
        if (c.locked_until && c.locked_until * 1000 > Date.now()) state.push(`locked until ${formatTime(c.locked_until)}`);
        const name = h('input', { value: c.name, className: 'compact', maxLength: 64, ariaLabel: `name of ${c.name}` });
        const roles = h('input', { value: c.roles.join(', '), className: 'compact', ariaLabel: `roles of ${c.name}` });
        const save = button('Save', async () => {
          /** @type {{ name?: string, roles?: string[] }} */
          const patch = {};
          if (name.value.trim() !== c.name) patch.name = name.value.trim();
          const newRoles = splitList(roles.value);
          if (newRoles.join(',') !== c.roles.join(',')) patch.roles = newRoles;
          if (!patch.name && !patch.roles) return setStatus('Nothing changed.');
          /** @type {{ client: Client }} */
          const res = await auth.request(base, { method: 'PATCH', body: patch });
          replace(res.client);
          setStatus(`Client "${res.client.name}" saved.`, 'ok');
        });
        return h(
          'tr',
          { dataset: { clientId: c.client_id } },
          ...cells(
            h('span', { className: 'row' }, name),
            h('code', { textContent: c.client_id }),
            h('span', { className: 'row' }, roles, save),
            state.join('; '),
            formatTime(c.created_at),
            h(
              'span',
              { className: 'row' },
              button('Usage', () => nav.showUsage(`client:${c.client_id}`)),
              c.disabled
                ? button('Enable', async () => {
                    /** @type {{ client: Client }} */
                    const res = await auth.request(base, { method: 'PATCH', body: { disabled: false } });
                    replace(res.client);
                    setStatus(`Client "${c.name}" enabled.`, 'ok');
                  })
                : dangerButton('Disable', async () => {
                    /** @type {{ client: Client }} */
                    const res = await auth.request(base, { method: 'PATCH', body: { disabled: true } });
                    replace(res.client);
                    setStatus(`Client "${c.name}" disabled; its tokens were revoked.`, 'ok');
                  }),
              dangerButton('Rotate secret', async () => {
                /** @type {{ client: Client, client_secret: string }} */
                const res = await auth.request(`${base}/rotate-secret`, { method: 'POST' });
                replace(res.client);
                showSecret(res.client, res.client_secret, `New secret for "${c.name}".`);
                setStatus(`Secret of "${c.name}" rotated; the previous one keeps working for a day.`, 'ok');
              }),
              dangerButton('Delete', async () => {
                await auth.request(base, { method: 'DELETE' });
                clients = clients.filter((x) => x.client_id !== c.client_id);
                render();
                forgetSecret();
                setStatus(`Client "${c.name}" deleted.`, 'ok');
              }),
            ),
          ),
        );
      }, 'No service client yet.'),
    );
    more.hidden = nextCursor === null;
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const values = formValues(form);
    void guarded(/** @type {HTMLButtonElement} */ ($('client-create-submit')), async () => {
      /** @type {{ client: Client, client_secret: string }} */
      const res = await auth.request('/admin/clients', { method: 'POST', body: { name: values.name ?? '', roles: splitList(values.roles ?? '') } });
      form.reset();
      clients = [res.client, ...clients.filter((c) => c.client_id !== res.client.client_id)];
      render();
      showSecret(res.client, res.client_secret, `Client "${res.client.name}" created.`);
      setStatus(`Client "${res.client.name}" created.`, 'ok');
    });
  });
  more.addEventListener('click', () => void guarded(more, () => load(true)));

  return {
    show: () => load(false),
    reset() {
      clients = [];
      nextCursor = null;
      list.replaceChildren();
      forgetSecret();
    },
  };
}
