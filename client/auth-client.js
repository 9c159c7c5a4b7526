// @ts-check
/**
 * edge-auth browser client for cookie mode (a single-page app served on the same origin as
 * the service). Copy this file into your app; it has no dependencies.
 *
 * What it does for you:
 * - every request goes out with `credentials: 'same-origin'`, so the HttpOnly access cookie
 *   travels with it; JavaScript never sees a token;
 * - unsafe methods (POST, PUT, PATCH, DELETE) carry `X-CSRF-Token`, copied from the readable
 *   `__Host-edge_csrf` cookie (double submit);
 * - a 401 `invalid_token` (expired access token), or a 401 `unauthorized` while the CSRF cookie
 *   is present (the browser dropped the expired access cookie), triggers ONE refresh, shared by
 *   every caller waiting at that moment, then the original request is retried once;
 * - an unsafe request refused 403 `csrf_failed` because another tab rotated the CSRF cookie
 *   meanwhile is retried once with the new value;
 * - refreshes are serialised across tabs with a Web Lock, and a tab that waited for another
 *   tab's refresh reuses it instead of rotating the refresh token again;
 * - tabs tell each other about sign-in and sign-out over a BroadcastChannel.
 */

/**
 * @typedef {{ id: string, username: string, email: string | null, roles: string[], created_at: string | number }} User
 * @typedef {{ token_type: 'Bearer', expires_in: number, refresh_expires_in: number, user: User }} SessionGrant
 * @typedef {{ mfa_required: true, mfa_token: string, methods: ('totp' | 'recovery_code' | 'webauthn')[], expires_in: number }} MfaChallenge
 * @typedef {{ code: string } | { recovery_code: string } | { webauthn: unknown }} MfaFactor
 * @typedef {{ id: string, created_at: string | number, last_used_at: string | number | null,
 *             user_agent: string | null, ip: string | null, current: boolean }} SessionInfo
 * @typedef {{ type: 'signed-in', user: User }
 *         | { type: 'signed-out', reason: 'logout' | 'logout-all' | 'session-ended' | 'other-tab' }
 *         | { type: 'refreshed', by: 'this-tab' | 'other-tab' }} AuthEvent
 * @typedef {{
 *   baseUrl?: string,
 *   csrfCookie?: string,
 *   csrfHeader?: string,
 *   refreshPath?: string,
 *   lockName?: string,
 *   channelName?: string,
 *   timeoutMs?: number,
 * }} AuthClientOptions
 */

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** An error response of the service: `{ error, message }` with its HTTP status. */
export class AuthApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message || code);
    this.name = 'AuthApiError';
    this.status = status;
    this.code = code;
  }
}

/**
 * Reads one cookie visible to JavaScript (the CSRF cookie; the token cookies are HttpOnly).
 * @param {string} name
 * @returns {string | null}
 */
export function readCookie(name) {
  for (const part of document.cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/**
 * @param {Response} res
 * @returns {Promise<{ error?: string, message?: string } & Record<string, unknown>>}
 */
async function readJson(res) {
  try {
    return await res.clone().json();
  } catch {
    return {};
  }
}

/** @param {AuthClientOptions} [options] */
export function createAuthClient(options = {}) {
  const baseUrl = options.baseUrl ?? '';
  const serviceOrigins = new Set([location.origin, new URL(baseUrl || '/', location.href).origin]);
  const csrfCookie = options.csrfCookie ?? '__Host-edge_csrf';
  const csrfHeader = options.csrfHeader ?? 'X-CSRF-Token';
  const refreshPath = options.refreshPath ?? '/auth/refresh';
  const lockName = options.lockName ?? 'edge-auth-refresh';
  const timeoutMs = options.timeoutMs ?? 15000;
  const stampKey = `${lockName}:refreshed-at`;

  /** @type {Set<(event: AuthEvent) => void>} */
  const listeners = new Set();
  /** @type {Promise<boolean> | null} the refresh in flight in this tab, shared by all callers */
  let inflight = null;
  /** when this tab last completed a refresh (ms since epoch) */
  let lastRefreshAt = 0;

  const channel =
    typeof BroadcastChannel === 'function' ? new BroadcastChannel(options.channelName ?? 'edge-auth') : null;
  if (channel) {
    channel.onmessage = (e) => {
      const data = e.data;
      if (data && data.type === 'signed-in') emit({ type: 'signed-in', user: data.user });
      if (data && data.type === 'signed-out') emit({ type: 'signed-out', reason: 'other-tab' });
      if (data && data.type === 'refreshed') emit({ type: 'refreshed', by: 'other-tab' });
    };
  }

  /** @param {AuthEvent} event */
  function emit(event) {
    for (const fn of listeners) {
      try {
        fn(event);
      } catch (err) {
        console.error(err);
      }
    }
  }

  /** @param {AuthEvent} event */
  function announce(event) {
    emit(event);
    if (channel) channel.postMessage(event.type === 'signed-out' ? { type: 'signed-out' } : event);
  }

  /** Last refresh by any tab of this origin (localStorage), or 0. */
  function sharedRefreshStamp() {
    try {
      return Number(localStorage.getItem(stampKey)) || 0;
    } catch {
      return 0; // storage disabled: we just refresh once more than needed
    }
  }

  /**
   * @param {RequestInfo | URL} input
   * @param {RequestInit} init
   */
  function methodOf(input, init) {
    return (init.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
  }

  /**
   * Sends one request with the CSRF header on unsafe methods.
   * @param {RequestInfo | URL} input
   * @param {RequestInit} init
   */
  function send(input, init) {
    const method = methodOf(input, init);
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    const target = input instanceof Request ? input.clone() : typeof input === 'string' ? baseUrl + input : input;
    const csrf = readCookie(csrfCookie);
    // The CSRF token goes only to the service (this page's origin or baseUrl's), never to a third party.
    const url = new URL(target instanceof Request ? target.url : String(target), location.href);
    if (!SAFE_METHODS.has(method) && csrf && !headers.has(csrfHeader) && serviceOrigins.has(url.origin)) headers.set(csrfHeader, csrf);
    return fetch(target, { ...init, method, headers, credentials: 'same-origin' });
  }

  /**
   * The actual POST /auth/refresh. Resolves true when the cookies are fresh (refreshed here or
   * by another tab after `since`), false when the session is over (the server cleared the
   * cookies). Network errors reject.
   * @param {number} since
   * @param {string | null} csrfBefore the CSRF cookie when the caller's request left
   */
  async function refreshNow(since, csrfBefore) {
    // Another tab finished a refresh after our request left: its new cookies are ours too. The
    // CSRF cookie is bound to the refresh token, so every refresh changes it, and the browser's
    // cookie store is read synchronously (the localStorage stamp reaches another tab's renderer
    // process asynchronously in Chromium: it can still be stale when the lock is released).
    const csrfNow = readCookie(csrfCookie);
    if ((csrfBefore !== null && csrfNow !== null && csrfNow !== csrfBefore) || sharedRefreshStamp() > since) {
      emit({ type: 'refreshed', by: 'other-tab' });
      return true;
    }
    const res = await send(refreshPath, { method: 'POST', signal: AbortSignal.timeout(timeoutMs) });
    if (res.ok) {
      lastRefreshAt = Date.now();
      try {
        localStorage.setItem(stampKey, String(lastRefreshAt));
      } catch {
        /* ignore */
      }
      announce({ type: 'refreshed', by: 'this-tab' });
      return true;
    }
    if (res.status === 400 || res.status === 401 || res.status === 403) {
      announce({ type: 'signed-out', reason: 'session-ended' });
      return false;
    }
    const body = await readJson(res);
    throw new AuthApiError(res.status, body.error ?? 'refresh_failed', body.message ?? res.statusText);
  }

  /**
   * Refreshes the session once for everybody who asks at the same time.
   * @param {number} [since] time the failed request was sent; a refresh completed after it is reused
   * @param {string | null} [csrfBefore] the CSRF cookie when that request was sent (default: now)
   * @returns {Promise<boolean>}
   */
  function refresh(since = Date.now(), csrfBefore = readCookie(csrfCookie)) {
    if (inflight) return inflight;
    if (lastRefreshAt > since) return Promise.resolve(true);
    const run = () => refreshNow(since, csrfBefore);
    const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
    // The lock is held until refreshNow settles, so another tab waits and then reuses our result.
    /** @type {Promise<boolean>} */
    const attempt = locks ? locks.request(lockName, run).then((ok) => ok) : run();
    const shared = attempt.finally(() => {
      inflight = null;
    });
    inflight = shared;
    return shared;
  }

  /**
   * `fetch` for your own API on this origin: cookies, CSRF header, one silent refresh + retry.
   * Bodies must be re-sendable (string, FormData, Blob, URLSearchParams...), not streams.
   * @param {RequestInfo | URL} input
   * @param {RequestInit} [init]
   * @returns {Promise<Response>}
   */
  async function authFetch(input, init = {}) {
    const sentAt = Date.now();
    const csrfSent = readCookie(csrfCookie);
    const res = await send(input, init);
    if (res.status === 403 && !SAFE_METHODS.has(methodOf(input, init))) {
      // Another tab refreshed (and rotated the CSRF cookie) while this request was in flight.
      const csrfNow = readCookie(csrfCookie);
      if (csrfNow && csrfNow !== csrfSent && (await readJson(res)).error === 'csrf_failed') return send(input, init);
      return res;
    }
    if (res.status !== 401) return res;
    const { error } = await readJson(res);
    // invalid_token: the access token expired (or was revoked). unauthorized while the CSRF cookie
    // is still here: the browser already dropped the expired access cookie (its Max-Age is the
    // token's lifetime) but the session, whose refresh cookie lives as long as the CSRF cookie, may not be over.
    const expired = error === 'invalid_token' || (error === 'unauthorized' && readCookie(csrfCookie) !== null);
    if (!expired) return res;
    if (!(await refresh(sentAt, csrfSent))) return res;
    return send(input, init);
  }

  /**
   * JSON helper: parses the body, throws AuthApiError on an error status.
   * @template T
   * @param {string} path
   * @param {{ method?: string, body?: unknown, retry?: boolean }} [opts]
   * @returns {Promise<T>}
   */
  async function request(path, opts = {}) {
    /** @type {RequestInit} */
    const init = { method: opts.method ?? 'GET', headers: { Accept: 'application/json' } };
    if (opts.body !== undefined) {
      init.body = JSON.stringify(opts.body);
      init.headers = { ...init.headers, 'Content-Type': 'application/json' };
    }
    const res = opts.retry === false ? await send(path, init) : await authFetch(path, init);
    if (res.status === 204) return /** @type {T} */ (undefined);
    const body = await readJson(res);
    if (!res.ok) throw new AuthApiError(res.status, body.error ?? 'http_' + res.status, body.message ?? '');
    return /** @type {T} */ (body);
  }

  return {
    fetch: authFetch,
    request,
    refresh,
    /** True when this origin holds a cookie-mode session (the CSRF cookie is present). */
    hasSession: () => readCookie(csrfCookie) !== null,

    /** @param {{ username: string, password: string, email?: string }} input @returns {Promise<User>} */
    async register(input) {
      const body = await request('/auth/register', { method: 'POST', body: input, retry: false });
      return /** @type {{ user: User }} */ (body).user;
    },

    /**
     * With a second factor enabled, the answer is an MfaChallenge (no session yet): finish with
     * verifyMfa(challenge.mfa_token, factor).
     * @param {{ username: string, password: string }} input @returns {Promise<SessionGrant | MfaChallenge>}
     */
    async login({ username, password }) {
      /** @type {SessionGrant | MfaChallenge} */
      const grant = await request('/auth/login', {
        method: 'POST',
        body: { username, password, mode: 'cookie' },
        retry: false,
      });
      if (!('mfa_required' in grant)) announce({ type: 'signed-in', user: grant.user });
      return grant;
    },

    /** The second step of a login: a TOTP code, a recovery code or a WebAuthn assertion (JSON).
     * @param {string} mfaToken @param {MfaFactor} factor @returns {Promise<SessionGrant>} */
    async verifyMfa(mfaToken, factor) {
      /** @type {SessionGrant} */
      const grant = await request('/auth/mfa/verify', { method: 'POST', body: { mfa_token: mfaToken, ...factor, mode: 'cookie' }, retry: false });
      announce({ type: 'signed-in', user: grant.user });
      return grant;
    },

    /** Sign-in with a passkey alone: `assert` runs navigator.credentials.get on the server's options.
     * @param {(options: any) => Promise<unknown>} assert @returns {Promise<SessionGrant>} */
    async passkeyLogin(assert) {
      const { options } = /** @type {{ options: any }} */ (await request('/auth/passkey/login/options', { method: 'POST', retry: false }));
      /** @type {SessionGrant} */
      const grant = await request('/auth/passkey/login', { method: 'POST', body: { response: await assert(options), mode: 'cookie' }, retry: false });
      announce({ type: 'signed-in', user: grant.user });
      return grant;
    },

    /** @returns {Promise<User | null>} the signed-in user, or null when signed out */
    async me() {
      try {
        const body = /** @type {{ user: User }} */ (await request('/auth/me'));
        return body.user;
      } catch (err) {
        if (err instanceof AuthApiError && err.status === 401) return null;
        throw err;
      }
    },

    /** @returns {Promise<SessionInfo[]>} */
    async sessions() {
      const body = /** @type {{ sessions: SessionInfo[] }} */ (await request('/auth/sessions'));
      return body.sessions;
    },

    /** @param {string} id */
    async endSession(id) {
      await request(`/auth/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' });
    },

    /** Ends this session (the server revokes it and clears the cookies). */
    async logout() {
      try {
        await request('/auth/logout', { method: 'POST' });
      } catch (err) {
        // 401: the session was already over; anything else (network, 5xx) is the caller's problem.
        if (!(err instanceof AuthApiError && err.status === 401)) throw err;
      }
      announce({ type: 'signed-out', reason: 'logout' });
    },

    /** Ends every session of the user, on every device. */

    async logoutAll() {
      await request('/auth/logout-all', { method: 'POST' });
      announce({ type: 'signed-out', reason: 'logout-all' });
    },

    /** @param {(event: AuthEvent) => void} fn @returns {() => void} unsubscribe */
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}

/** @typedef {ReturnType<typeof createAuthClient>} AuthClient */
