// @ts-check
// The demo SPA: plain DOM code on top of the typed client (edge-auth-api.js, from client/ in the
// repository). Everything that touches the service goes through `api` (typed calls generated from
// /openapi.json) or `auth` (sign-in, events); both share the cookie-mode session handling, and
// nothing here ever sees a token.
import { AuthApiError, createEdgeAuthClient } from './edge-auth-api.js';
import { createNotesPanel } from './notes.js';
import { initMfa } from './mfa.js';
import { initEmail } from './email.js';
import { createUsagePanel } from './usage.js';

/** @typedef {import('./edge-auth-client.js').User} User */
/** @typedef {import('./edge-auth-client.js').SessionInfo} SessionInfo */

const client = createEdgeAuthClient({ mode: 'cookie' });
/** Typed by the document: paths, bodies and answers (client/schema.d.ts, checked by `npx tsc -p e2e`). */
const api = /** @type {import('openapi-fetch').Client<import('../../client/schema').paths>} */ (client.api);
const auth = /** @type {import('./edge-auth-client.js').AuthClient} */ (client.auth);

/**
 * The data of a typed call, or an AuthApiError with the service's code.
 * @template T
 * @param {Promise<{ data?: T, error?: any, response: Response }>} call
 * @returns {Promise<T>}
 */
async function ok(call) {
  const { data, error, response } = await call;
  if (error !== undefined || !response.ok) throw new AuthApiError(response.status, error?.error ?? `http_${response.status}`, error?.message ?? '');
  return /** @type {T} */ (data);
}
const TTL_KEY = 'edge-auth-demo:access-ttl'; // not a secret: just the lifetime, for the hint

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @returns {T}
 */
function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return /** @type {T} */ (el);
}

/** @param {string} text @param {'ok' | 'error' | ''} [kind] */
function setStatus(text, kind = '') {
  const el = $('status');
  el.textContent = text;
  el.className = `status ${kind}`;
}

/** @param {string} text */
function log(text) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  const list = $('log');
  list.prepend(li);
  while (list.children.length > 50) list.lastElementChild?.remove();
}

const notes = createNotesPanel(auth, { log });
const usage = createUsagePanel(auth, { log });

/** @param {unknown} err */
function describe(err) {
  if (err instanceof AuthApiError) return `${err.message || err.code} (${err.status} ${err.code})`;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** @param {string | number | null | undefined} value */
function formatTime(value) {
  if (value === null || value === undefined || value === '') return '–';
  // Numbers may be epoch seconds or milliseconds; strings are ISO dates.
  const date = typeof value === 'number' ? new Date(value < 1e12 ? value * 1000 : value) : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

/**
 * Runs an action with its button disabled and reports failures in the status line.
 * @param {HTMLButtonElement} button
 * @param {() => Promise<void>} action
 */
async function busy(button, action) {
  button.disabled = true;
  try {
    await action();
  } catch (err) {
    setStatus(describe(err), 'error');
    log(`error: ${describe(err)}`);
  } finally {
    button.disabled = false;
  }
}

// ---- views -------------------------------------------------------------------------------

function showSignedOut() {
  $('signed-in').hidden = true;
  $('whoami').hidden = true;
  $('signed-out').hidden = false;
  $('me').replaceChildren();
  $('sessions').replaceChildren();
  $('private-result').textContent = '';
  notes.clear();
  usage.clear();
  $('console-link').hidden = true;
  mfa.reset();
  document.body.dataset.state = 'signed-out';
}

/** @param {User} user */
function showSignedIn(user) {
  $('signed-out').hidden = true;
  $('signed-in').hidden = false;
  $('whoami').hidden = false;
  $('whoami-name').textContent = user.username;
  // A link only: the console and the admin API check the role themselves, freshly, on every request.
  $('console-link').hidden = !user.roles.includes('admin');
  $('ttl').textContent = localStorage.getItem(TTL_KEY) ?? '?';

  /** @type {[string, string][]} */
  const rows = [
    ['id', user.id],
    ['username', user.username],
    ['email', user.email ? `${user.email}${user.email_verified ? ' (verified)' : ' (not verified)'}` : '–'],
    ['roles', user.roles.length ? user.roles.join(', ') : '–'],
    ['created', formatTime(user.created_at)],
  ];
  $('me').replaceChildren(
    ...rows.flatMap(([k, v]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      dd.dataset.field = k;
      return [dt, dd];
    }),
  );
  email.show(user);
  document.body.dataset.state = 'signed-in';
  void notes.load();
  usage.refresh();
}

/** @param {SessionInfo[]} sessions */
function renderSessions(sessions) {
  const rows = sessions.map((s) => {
    const tr = document.createElement('tr');
    tr.dataset.sessionId = s.id;
    const device = document.createElement('td');
    device.textContent = s.user_agent || 'unknown device';
    if (s.current) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = 'this browser';
      device.append(badge);
      tr.dataset.current = 'true';
    }
    const ip = document.createElement('td');
    ip.textContent = s.ip || '–';
    const created = document.createElement('td');
    created.textContent = formatTime(s.created_at);
    const used = document.createElement('td');
    used.textContent = formatTime(s.last_used_at);
    const actions = document.createElement('td');
    const end = document.createElement('button');
    end.type = 'button';
    end.className = 'end-session';
    end.textContent = s.current ? 'End (signs you out)' : 'End';
    end.addEventListener('click', () =>
      busy(end, async () => {
        await ok(api.DELETE('/auth/sessions/{id}', { params: { path: { id: s.id } } }));
        log(`DELETE /auth/sessions/${s.id} → 204`);
        if (s.current) {
          setStatus('This session was ended. Sign in again.', 'ok');
          showSignedOut();
        } else {
          setStatus('Session ended.', 'ok');
          await loadSessions();
        }
      }),
    );
    actions.append(end);
    tr.append(device, ip, created, used, actions);
    return tr;
  });
  $('sessions').replaceChildren(...rows);
}

// ---- actions -----------------------------------------------------------------------------

async function loadSessions() {
  const { sessions } = await ok(api.GET('/auth/sessions'));
  renderSessions(sessions);
  log(`GET /auth/sessions → ${sessions.length} session(s)`);
}

/** Shows whoever the cookies say is signed in (or the sign-in forms). */
async function boot() {
  const user = await auth.me();
  if (!user) {
    showSignedOut();
    setStatus('Signed out.');
    log('GET /auth/me → 401: signed out');
    return;
  }
  showSignedIn(user);
  setStatus(`Welcome back, ${user.username}.`, 'ok');
  log(`GET /auth/me → ${user.username}`);
  await Promise.all([loadSessions(), mfa.refresh()]);
}

/** A sign-in finished (password, password and second factor, or passkey). @param {import('./edge-auth-client.js').SessionGrant} grant */
async function signedIn(grant) {
  localStorage.setItem(TTL_KEY, String(grant.expires_in));
  showSignedIn(grant.user);
  setStatus(`Signed in as ${grant.user.username}.`, 'ok');
  await Promise.all([loadSessions(), mfa.refresh()]);
}

const mfa = initMfa({ auth, el: $, busy, log, setStatus, signedIn });
const email = initEmail({ auth, el: $, busy, log, setStatus, reload: () => boot() });

async function callPrivate() {
  const out = $('private-result');
  const { data, error, response: res } = await api.GET('/api/private');
  const body = data ?? error ?? {};
  log(`GET /api/private → ${res.status}`);
  out.dataset.status = String(res.status);
  out.textContent = `${res.status} ${new Date().toLocaleTimeString()}\n${JSON.stringify(body, null, 2)}`;
  if (res.status === 401) {
    setStatus('Your session is over. Sign in again.', 'error');
    showSignedOut();
  }
}

// ---- wiring ------------------------------------------------------------------------------

/**
 * @param {HTMLFormElement} form
 * @returns {Record<string, string>}
 */
function formValues(form) {
  /** @type {Record<string, string>} */
  const values = {};
  for (const [k, v] of new FormData(form)) values[k] = String(v);
  return values;
}

$('register-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = /** @type {HTMLFormElement} */ (event.currentTarget);
  const { username, password, email } = formValues(form);
  busy($('register-submit'), async () => {
    const user = await auth.register(email ? { username, password, email } : { username, password });
    log(`POST /auth/register → 201 (${user.username})`);
    form.reset();
    /** @type {HTMLInputElement} */ ($('login-username')).value = user.username;
    $('login-password').focus();
    setStatus(`Account "${user.username}" created. Now sign in.`, 'ok');
  });
});

$('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = /** @type {HTMLFormElement} */ (event.currentTarget);
  const { username, password } = formValues(form);
  busy($('login-submit'), async () => {
    const grant = await auth.login({ username, password });
    form.reset();
    if ('mfa_required' in grant) {
      mfa.required(grant);
      return;
    }
    log(`POST /auth/login (cookie mode) → 200, access token for ${grant.expires_in} s`);
    await signedIn(grant);
  });
});

$('call-private').addEventListener('click', (event) =>
  busy(/** @type {HTMLButtonElement} */ (event.currentTarget), callPrivate),
);

$('reload-sessions').addEventListener('click', (event) =>
  busy(/** @type {HTMLButtonElement} */ (event.currentTarget), loadSessions),
);

$('logout').addEventListener('click', (event) =>
  busy(/** @type {HTMLButtonElement} */ (event.currentTarget), async () => {
    await auth.logout();
    log('POST /auth/logout → signed out');
  }),
);

$('logout-all').addEventListener('click', (event) =>
  busy(/** @type {HTMLButtonElement} */ (event.currentTarget), async () => {
    await auth.logoutAll();
    log('POST /auth/logout-all → every session ended');
  }),
);

auth.subscribe((event) => {
  switch (event.type) {
    case 'refreshed':
      log(event.by === 'this-tab' ? 'access token expired → POST /auth/refresh → 200' : 'the session was refreshed elsewhere (another tab)');
      break;
    case 'signed-in':
      // Another tab signed in (our own sign-in is handled by the form).
      if (document.body.dataset.state !== 'signed-in') boot().catch((err) => setStatus(describe(err), 'error'));
      break;
    case 'signed-out': {
      const why = {
        logout: 'Signed out.',
        'logout-all': 'Signed out on every device.',
        'session-ended': 'Your session has ended. Sign in again.',
        'other-tab': 'Signed out in another tab.',
      }[event.reason];
      log(`signed out (${event.reason})`);
      setStatus(why, event.reason === 'session-ended' ? 'error' : 'ok');
      showSignedOut();
      break;
    }
  }
});

boot().catch((err) => {
  showSignedOut();
  setStatus(`Could not reach the service: ${describe(err)}`, 'error');
});
