// @ts-check
// The "Your usage" panel: the signed-in user's own counted requests (GET /auth/usage), drawn as
// inline SVG by usage-chart.js. Loaded each time the panel is opened (and by its Reload button),
// never in the background: counts reach storage a few seconds after the requests (docs/usage.md).
import { AuthApiError } from './edge-auth-client.js';
import { usageFigure } from './usage-chart.js';

/** @typedef {import('./usage-chart.js').UsageBucket} UsageBucket */
/** @typedef {{ granularity: 'hour' | 'day', from: string, to: string, totals: { requests: number }, buckets: UsageBucket[] }} UsageAnswer */

/** The windows the panel offers: GET /auth/usage accepts up to 31 days of hours, 366 of days. */
const WINDOWS = {
  '24h': { ms: 24 * 3_600_000, granularity: 'hour' },
  '7d': { ms: 7 * 86_400_000, granularity: 'day' },
  '30d': { ms: 30 * 86_400_000, granularity: 'day' },
};

/**
 * @param {import('./edge-auth-client.js').AuthClient} auth
 * @param {{ log: (text: string) => void }} ui
 */
export function createUsagePanel(auth, ui) {
  const panel = /** @type {HTMLDetailsElement} */ (document.getElementById('usage-panel'));
  const chart = /** @type {HTMLElement} */ (document.getElementById('usage-chart'));
  const status = /** @type {HTMLElement} */ (document.getElementById('usage-status'));
  const windowSelect = /** @type {HTMLSelectElement} */ (document.getElementById('usage-window'));
  const reload = /** @type {HTMLButtonElement} */ (document.getElementById('usage-reload'));
  let generation = 0;

  async function load() {
    const mine = ++generation;
    const choice = WINDOWS[/** @type {keyof typeof WINDOWS} */ (windowSelect.value)] ?? WINDOWS['24h'];
    // The window ends at the next whole hour, so the current hour's column is drawn.
    const to = new Date(Math.ceil((Date.now() + 1) / 3_600_000) * 3_600_000);
    const from = new Date(to.getTime() - choice.ms);
    const query = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), granularity: choice.granularity });
    reload.disabled = true;
    status.textContent = 'Loading…';
    delete chart.dataset.loaded;
    try {
      /** @type {UsageAnswer} */
      const usage = await auth.request(`/auth/usage?${query}`);
      if (mine !== generation) return;
      chart.replaceChildren(usageFigure(usage.buckets, { from: usage.from, to: usage.to, granularity: usage.granularity }));
      chart.dataset.loaded = String(Date.now());
      status.textContent = `Updated ${new Date().toLocaleTimeString()}. Counts reach storage a few seconds after the requests.`;
      ui.log(`GET /auth/usage → ${usage.totals.requests} request(s) counted`);
    } catch (err) {
      if (mine !== generation) return;
      chart.replaceChildren();
      status.textContent = err instanceof AuthApiError ? `Could not load your usage: ${err.message || err.code} (${err.status} ${err.code})` : `Could not load your usage: ${err instanceof Error ? err.message : String(err)}`;
      ui.log(`error: GET /auth/usage: ${status.textContent}`);
    } finally {
      if (mine === generation) reload.disabled = false;
    }
  }

  panel.addEventListener('toggle', () => {
    if (panel.open) void load();
  });
  reload.addEventListener('click', () => void load());
  windowSelect.addEventListener('change', () => void load());

  return {
    /** Reloads when the panel is open (after a sign-in, for instance). */
    refresh() {
      if (panel.open) void load();
    },
    clear() {
      generation++;
      panel.open = false;
      chart.replaceChildren();
      delete chart.dataset.loaded;
      status.textContent = '';
    },
  };
}
