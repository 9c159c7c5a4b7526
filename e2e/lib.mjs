// What every e2e scenario shares: the step runner, the browser devices, and helpers that drive the
// demo SPA or talk to the server as a same-origin browser would. Every wait is for a condition
// (a page state, a response, a cookie gone), bounded by the step's timeout, never a fixed sleep.
import assert from 'node:assert/strict';

export const PASSWORD = 'correct horse battery staple 42';
export const STEP_TIMEOUT_MS = 45_000;

/**
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {string} what
 * @returns {Promise<T>}
 */
export function withTimeout(promise, ms, what) {
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return /** @type {Promise<T>} */ (Promise.race([promise, timeout]).finally(() => clearTimeout(timer)));
}

/** Steps, their results, and notes; after a failed critical step the rest are reported skipped. */
export class Runner {
  /** @type {{ name: string, status: 'pass' | 'fail' | 'skip', ms: number }[]} */
  results = [];
  /** @type {string[]} */
  notes = [];
  aborted = false;

  /**
   * @param {string} name
   * @param {() => Promise<void>} fn
   * @param {{ timeout?: number, critical?: boolean }} [opts]
   */
  async step(name, fn, opts = {}) {
    if (this.aborted) {
      this.results.push({ name, status: 'skip', ms: 0 });
      console.log(`  - ${name} (skipped: an earlier critical step failed)`);
      return;
    }
    const t0 = Date.now();
    try {
      await withTimeout(fn(), opts.timeout ?? STEP_TIMEOUT_MS, name);
      this.results.push({ name, status: 'pass', ms: Date.now() - t0 });
      console.log(`  ✔ ${name} (${Date.now() - t0} ms)`);
    } catch (err) {
      this.results.push({ name, status: 'fail', ms: Date.now() - t0 });
      console.log(`  ✘ ${name} (${Date.now() - t0} ms)`);
      console.log(String(err instanceof Error ? err.stack ?? err.message : err).replace(/^/gm, '      '));
      if (opts.critical !== false) this.aborted = true;
    }
  }
}

/**
 * The browser side of a run: devices (contexts) with their traffic recorded, and page helpers.
 * @param {{ browser: import('playwright-core').Browser, origin: string, ttl: number, cleanups: (() => Promise<void>)[] }} options
 */
export function browserKit({ browser, origin, ttl, cleanups }) {
  /** problems seen in any page: CSP violations, uncaught errors */
  const pageProblems = [];
  /** every API response seen by any browser context */
  const traffic = /** @type {{ device: string, method: string, path: string, status: number, at: number }[]} */ ([]);

  /** @param {import('playwright-core').Page} page @param {string} label */
  function watchPage(page, label) {
    page.on('pageerror', (err) => pageProblems.push(`${label}: uncaught ${err.message}`));
    page.on('console', (msg) => {
      const text = msg.text();
      if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(text) && page.url().startsWith(origin)) {
        pageProblems.push(`${label}: ${text}`);
      }
    });
  }

  /** @param {string} label */
  async function newDevice(label) {
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    context.setDefaultTimeout(15_000);
    context.on('response', (res) => {
      const url = new URL(res.url());
      if (url.origin === origin && /^\/(auth|api)\//.test(url.pathname)) {
        if (url.searchParams.has('probe')) return; // the harness's own look, not the client's traffic
        traffic.push({ device: label, method: res.request().method(), path: url.pathname, status: res.status(), at: Date.now() });
      }
    });
    context.on('page', (page) => watchPage(page, label));
    cleanups.push(() => context.close());
    return context;
  }

  /** @param {string} method @param {string} p */
  const count = (method, p, since = 0) => traffic.filter((t) => t.method === method && t.path === p && t.at >= since);

  /** @param {import('playwright-core').Page} page @param {string} s */
  const waitState = (page, s) => page.locator(`body[data-state="${s}"]`).waitFor();

  /** Clicks "Call /api/private" and returns what the page showed. @param {import('playwright-core').Page} page */
  async function callPrivate(page) {
    await page.evaluate(() => {
      const out = document.getElementById('private-result');
      if (out) {
        out.textContent = '';
        delete out.dataset.status;
      }
    });
    await page.click('#call-private');
    await page.locator('#private-result[data-status]').waitFor({ state: 'attached' });
    return {
      status: Number(await page.locator('#private-result').getAttribute('data-status')),
      text: (await page.locator('#private-result').textContent()) ?? '',
    };
  }

  /** Signs in through the form; returns the login response. @param {import('playwright-core').Page} page @param {string} username */
  /**
   * Submits the page's sign-in form and returns the answer. Every page of the run signs in from
   * 127.0.0.1, so the per-IP login throttle (RL_LOGIN_IP, 20 a minute in fixed wall-clock windows)
   * can be spent by earlier scenarios: a 429 waits for the next window and submits once more.
   * Steps that test the throttle itself must not use this.
   * @param {import('playwright-core').Page} page @param {string} username @param {string} password
   */
  async function submitLogin(page, username, password) {
    for (let attempt = 0; ; attempt++) {
      await page.fill('#login-username', username);
      await page.fill('#login-password', password);
      const [res] = await Promise.all([
        page.waitForResponse((r) => r.url() === `${origin}/auth/login` && r.request().method() === 'POST'),
        page.click('#login-submit'),
      ]);
      if (res.status() !== 429 || attempt > 0) return res;
      await new Promise((r) => setTimeout(r, 61_000 - (Date.now() % 60_000)));
    }
  }

  async function uiLogin(page, username) {
    await page.goto(origin + '/');
    await waitState(page, 'signed-out');
    await requireForm(page, ['#login-username', '#login-password', '#login-submit']);
    const res = await submitLogin(page, username, PASSWORD);
    await waitState(page, 'signed-in');
    return res;
  }

  /**
   * Waits until the device's access token has expired: the browser drops the access cookie at its
   * Max-Age (the token's lifetime), which is the condition the steps need, not a fixed time.
   * @param {import('playwright-core').BrowserContext} context
   */
  async function outliveAccessToken(context) {
    const deadline = Date.now() + ttl * 1000 + 5_000;
    for (;;) {
      const jar = await context.cookies(origin + '/');
      if (!jar.some((c) => c.name === '__Host-edge_access')) return;
      if (Date.now() > deadline) throw new Error(`the access cookie outlived its ${ttl} s lifetime`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Sessions as the SPA lists them (reloads the list). @param {import('playwright-core').Page} page */
  async function listedSessions(page) {
    await Promise.all([
      page.waitForResponse((r) => r.url() === `${origin}/auth/sessions` && r.request().method() === 'GET'),
      page.click('#reload-sessions'),
    ]);
    await page.locator('#reload-sessions:not([disabled])').waitFor();
    return page.$$eval('#sessions tr', (rows) =>
      rows.map((r) => ({ id: /** @type {HTMLElement} */ (r).dataset.sessionId, current: /** @type {HTMLElement} */ (r).dataset.current === 'true' })),
    );
  }

  /**
   * A request from Node as a same-origin browser would send it, with an explicit cookie jar.
   * @param {string} method
   * @param {string} p
   * @param {{ body?: unknown, jar?: Record<string, string> }} [opts]
   */
  async function api(method, p, opts = {}) {
    const jar = opts.jar ?? {};
    /** @type {Record<string, string>} */
    const headers = { Origin: origin, Accept: 'application/json' };
    const cookie = Object.entries(jar).map(([k, v]) => `${k}=${v}`).join('; ');
    if (cookie) headers.Cookie = cookie;
    if (jar['__Host-edge_csrf'] && method !== 'GET') headers['X-CSRF-Token'] = jar['__Host-edge_csrf'];
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(origin + p, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: AbortSignal.timeout(10_000),
    });
    /** @type {Record<string, string>} */
    const cookies = {};
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const i = pair.indexOf('=');
      cookies[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
    }
    return { status: res.status, text: await res.text(), cookies };
  }

  return { pageProblems, traffic, newDevice, count, waitState, callPrivate, uiLogin, submitLogin, outliveAccessToken, listedSessions, api };
}

/**
 * Fails the step when the page lacks a control it drives: a missing form is a broken page, never
 * a reason to skip the step silently.
 * @param {import('playwright-core').Page} page
 * @param {string[]} selectors
 */
export async function requireForm(page, selectors) {
  for (const selector of selectors) assert.equal(await page.locator(selector).count(), 1, `the page has no ${selector}`);
}
