// @ts-check
// The admin console: static pages beside the demo SPA, on the same client (cookie mode, CSRF
// header, one refresh in flight) and the same CSP. It holds no authority of its own: every view
// calls the admin API, which checks the admin role freshly (D1) on each request. The console
// asks once after sign-in (GET /admin/users?limit=1) to choose between its views and the refusal,
// and falls back to the refusal whenever a later request is refused for the role.
import { AuthApiError, createAuthClient } from '../js/edge-auth-client.js';
import { createAuditView } from './audit.js';
import { createClientsView } from './clients.js';
import { $, describe, formValues, guarded, setErrorHandler, setStatus } from './dom.js';
import { createKeysView } from './keys.js';
import { createUsageView } from './usage.js';
import { createUsersView } from './users.js';

/** @typedef {import('../js/edge-auth-client.js').User} User */
/** @typedef {'loading' | 'signed-out' | 'refused' | 'admin'} State */
/** @typedef {'users' | 'clients' | 'audit' | 'keys' | 'usage'} Tab */

const auth = createAuthClient();
/** @type {User | null} */
let me = null;
/** @type {string | null} the pending second step of a sign-in */
let mfaToken = null;
/** True while this tab signs in itself: its own 'signed-in' event must not start a second boot. */
let signingIn = false;

const audit = createAuditView(auth);
const usage = createUsageView(auth);
const keys = createKeysView(auth);
const users = createUsersView(auth, {
  showAudit: (filters) => void guarded(null, () => openTab('audit', () => audit.show(filters))),
  showUsage: (subject) => void guarded(null, () => openTab('usage', () => usage.show(subject))),
});
const clients = createClientsView(auth, {
  showUsage: (subject) => void guarded(null, () => openTab('usage', () => usage.show(subject))),
});

/** @param {State} state */
function setState(state) {
  document.body.dataset.state = state;
  $('signed-out').hidden = state !== 'signed-out';
  $('refused').hidden = state !== 'refused';
  $('admin').hidden = state !== 'admin';
  $('whoami').hidden = state === 'signed-out' || state === 'loading' || !me;
  if (me) $('whoami-name').textContent = me.username;
}

/** @param {string} why */
function showSignedOut(why) {
  me = null;
  mfaToken = null;
  $('mfa-form').hidden = true;
  $('login-form').hidden = false;
  for (const view of [users, clients, audit, keys, usage]) view.reset();
  setState('signed-out');
  setStatus(why, why.startsWith('Signed out') ? 'ok' : 'error');
}

/**
 * The account is signed in but the admin API refuses it.
 * @param {AuthApiError} err
 */
function showRefused(err) {
  for (const view of [users, clients, audit, keys, usage]) view.reset();
  const name = me ? `"${me.username}"` : 'This account';
  $('refused-reason').textContent =
    err.code === 'mfa_required'
      ? `${name} is an administrator, but this deployment requires a sign-in with a second factor for the admin API. Sign out and sign in again with your authenticator or a passkey.`
      : `${name} does not hold the admin role (the service checked it just now), so the console shows nothing. Ask an administrator if you need access.`;
  $('refused-code').textContent = `${err.status} ${err.code}`;
  setState('refused');
  setStatus('Access refused.', 'error');
}

setErrorHandler((err) => {
  if (err instanceof AuthApiError && err.status === 403 && (err.code === 'insufficient_scope' || err.code === 'mfa_required')) {
    showRefused(err);
  } else if (err instanceof AuthApiError && err.status === 401) {
    showSignedOut('Your session has ended. Sign in again.');
  } else {
    setStatus(describe(err), 'error');
  }
});

/** Asks the admin API itself whether this session may use it. */
async function checkAdmin() {
  try {
    await auth.request('/admin/users?limit=1');
  } catch (err) {
    if (err instanceof AuthApiError && err.status === 403) {
      showRefused(err);
      return;
    }
    throw err;
  }
  setState('admin');
  setStatus(`Signed in as ${me?.username ?? '?'} (admin).`, 'ok');
  await openTab('users', () => users.show());
}

/**
 * @param {Tab} tab
 * @param {() => Promise<void>} [load] what to load (default: the tab's own first view)
 */
async function openTab(tab, load) {
  for (const b of document.querySelectorAll('#tabs button')) {
    const button = /** @type {HTMLButtonElement} */ (b);
    button.setAttribute('aria-selected', String(button.dataset.tab === tab));
  }
  for (const s of document.querySelectorAll('#admin > section')) /** @type {HTMLElement} */ (s).hidden = s.id !== `tab-${tab}`;
  document.body.dataset.tab = tab;
  const view = { users, clients, audit, keys, usage }[tab];
  await (load ? load() : view.show());
}

async function boot() {
  setState('loading');
  me = await auth.me();
  if (!me) {
    showSignedOut('Sign in with an administrator account.');
    return;
  }
  await checkAdmin();
}

/** @param {import('../js/edge-auth-client.js').SessionGrant} grant */
async function signedIn(grant) {
  me = grant.user;
  mfaToken = null;
  $('mfa-form').hidden = true;
  $('login-form').hidden = false;
  await checkAdmin();
}

$('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = /** @type {HTMLFormElement} */ (event.currentTarget);
  const { username = '', password = '' } = formValues(form);
  void guarded(/** @type {HTMLButtonElement} */ ($('login-submit')), async () => {
    signingIn = true;
    const grant = await auth.login({ username, password }).finally(() => (signingIn = false));
    form.reset();
    if ('mfa_required' in grant) {
      mfaToken = grant.mfa_token;
      $('login-form').hidden = true;
      $('mfa-form').hidden = false;
      $('mfa-code').focus();
      setStatus('Enter the code from your authenticator app, or a recovery code.');
      return;
    }
    await signedIn(grant);
  });
});

$('mfa-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = /** @type {HTMLFormElement} */ (event.currentTarget);
  const { code, recovery_code } = formValues(form);
  void guarded(/** @type {HTMLButtonElement} */ ($('mfa-submit')), async () => {
    if (!mfaToken) throw new Error('Sign in with your password first.');
    signingIn = true;
    const grant = await auth.verifyMfa(mfaToken, recovery_code ? { recovery_code } : { code: code ?? '' }).finally(() => (signingIn = false));
    form.reset();
    await signedIn(grant);
  });
});

for (const b of document.querySelectorAll('#tabs button')) {
  const button = /** @type {HTMLButtonElement} */ (b);
  button.addEventListener('click', () => void guarded(button, () => openTab(/** @type {Tab} */ (button.dataset.tab))));
}

for (const id of ['logout', 'refused-logout']) {
  const button = /** @type {HTMLButtonElement} */ ($(id));
  button.addEventListener('click', () => void guarded(button, () => auth.logout()));
}

auth.subscribe((event) => {
  if (event.type === 'signed-out') {
    showSignedOut(
      {
        logout: 'Signed out.',
        'logout-all': 'Signed out on every device.',
        'session-ended': 'Your session has ended. Sign in again.',
        'other-tab': 'Signed out in another tab.',
      }[event.reason],
    );
  } else if (event.type === 'signed-in' && !signingIn && document.body.dataset.state === 'signed-out') {
    // Another tab signed in.
    void guarded(null, boot);
  }
});

guarded(null, boot).catch(() => undefined);
