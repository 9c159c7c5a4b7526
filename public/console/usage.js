// @ts-check
// Usage per subject (GET /admin/usage): the rows of the chosen window, grouped by subject (user,
// API key, client), one chart each, busiest first; and the same rows as CSV (format=csv, the next
// page's cursor in X-Next-Cursor).
import { AuthApiError } from '../js/edge-auth-client.js';
import { usageFigure } from '../js/usage-chart.js';
import { $, formValues, guarded, h, setStatus } from './dom.js';

/**
 * @typedef {{ subject: { type: string, id: string }, route: string, start: string, requests: number,
 *   status: { '2xx': number, '3xx': number, '4xx': number, '5xx': number }, bytes_in: number, bytes_out: number }} UsageRow
 */

const PAGE_SIZE = 500;
/** Pages read for one view (5,000 rows); narrow the window or the subject to see more. */
const MAX_PAGES = 10;
/** Charts drawn at once, busiest subjects first. */
const MAX_CHARTS = 25;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** @param {import('../js/edge-auth-client.js').AuthClient} auth */
export function createUsageView(auth) {
  const form = /** @type {HTMLFormElement} */ ($('usage-filters'));
  const box = $('usage-view');

  /** @param {Date} d datetime-local value (local time, minutes) */
  function localInput(d) {
    const pad = (/** @type {number} */ n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  /** Default window: the last 24 hours, to the next whole hour. */
  function defaultWindow() {
    const to = new Date(Math.ceil((Date.now() + 1) / HOUR) * HOUR);
    setField('from', localInput(new Date(to.getTime() - 24 * HOUR)));
    setField('to', localInput(to));
  }

  /** @param {string} name @param {string} value */
  function setField(name, value) {
    const field = form.elements.namedItem(name);
    if (field instanceof HTMLInputElement || field instanceof HTMLSelectElement) field.value = value;
  }

  /** The form as API parameters (ISO instants). */
  function readForm() {
    const v = formValues(form);
    const granularity = v.granularity === 'day' ? 'day' : 'hour';
    const step = granularity === 'day' ? DAY : HOUR;
    const to = v.to ? new Date(v.to) : new Date(Math.ceil((Date.now() + 1) / step) * step);
    const from = v.from ? new Date(v.from) : new Date(to.getTime() - 24 * HOUR);
    if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) throw new Error('from and to must be dates');
    const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), granularity });
    if (v.subject) q.set('subject', v.subject);
    if (v.route) q.set('route', v.route);
    return { q, window: { from: from.toISOString(), to: to.toISOString(), granularity: /** @type {'hour' | 'day'} */ (granularity) } };
  }

  async function load() {
    const { q, window } = readForm();
    /** @type {UsageRow[]} */
    const rows = [];
    let cursor = null;
    let pages = 0;
    do {
      const page = new URLSearchParams(q);
      page.set('limit', String(PAGE_SIZE));
      if (cursor) page.set('cursor', cursor);
      /** @type {{ rows: UsageRow[], next_cursor: string | null }} */
      const res = await auth.request(`/admin/usage?${page}`);
      rows.push(...res.rows);
      cursor = res.next_cursor;
      pages++;
    } while (cursor && pages < MAX_PAGES);

    /** @type {Map<string, UsageRow[]>} */
    const bySubject = new Map();
    for (const row of rows) {
      const key = `${row.subject.type}:${row.subject.id}`;
      const list = bySubject.get(key);
      if (list) list.push(row);
      else bySubject.set(key, [row]);
    }
    const total = (/** @type {UsageRow[]} */ list) => list.reduce((s, r) => s + r.requests, 0);
    const subjects = [...bySubject.entries()].sort((a, b) => total(b[1]) - total(a[1]) || a[0].localeCompare(b[0]));
    box.replaceChildren(
      h('p', {
        className: 'muted small',
        textContent:
          `${rows.length} row(s), ${subjects.length} subject(s)` +
          (cursor ? `; more rows exist beyond the first ${rows.length}: narrow the window, subject or route` : '') +
          (subjects.length > MAX_CHARTS ? `; the ${MAX_CHARTS} busiest are drawn` : '') +
          '. Counts reach storage a few seconds after the requests.',
      }),
      ...(subjects.length === 0 ? [h('p', { textContent: 'No request counted for this filter and window.' })] : []),
      ...subjects.slice(0, MAX_CHARTS).map(([subject, list]) =>
        h('article', { className: 'card subject', dataset: { subject } }, h('h3', {}, h('code', { textContent: subject })), usageFigure(list, { ...window, label: subject })),
      ),
    );
  }

  /** The CSV of the current filter: the pages one after another (X-Next-Cursor), one header line. */
  async function exportCsv() {
    const { q } = readForm();
    q.set('format', 'csv');
    q.set('limit', String(PAGE_SIZE));
    /** @type {string[]} */
    const parts = [];
    let rows = 0;
    /** @type {string | null} */
    let cursor = null;
    let pages = 0;
    do {
      const page = new URLSearchParams(q);
      if (cursor) page.set('cursor', cursor);
      const res = await auth.fetch(`/admin/usage?${page}`, { headers: { Accept: 'text/csv' } });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        throw new AuthApiError(res.status, body.error ?? `http_${res.status}`, body.message ?? '');
      }
      const text = await res.text();
      const lines = text.split('\r\n').filter(Boolean);
      parts.push(...(pages === 0 ? lines : lines.slice(1)));
      rows += lines.length - 1;
      cursor = res.headers.get('X-Next-Cursor');
      pages++;
    } while (cursor && pages < MAX_PAGES);
    const blob = new Blob([parts.join('\r\n') + '\r\n'], { type: 'text/csv' });
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `usage-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    setStatus(`CSV downloaded: ${rows} row(s)${cursor ? `, the first ${MAX_PAGES} pages only: narrow the filter for the rest` : ''}.`, 'ok');
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void guarded(/** @type {HTMLButtonElement} */ ($('usage-submit')), load);
  });
  $('usage-csv').addEventListener('click', (e) => void guarded(/** @type {HTMLButtonElement} */ (e.currentTarget), exportCsv));
  defaultWindow();

  return {
    /** @param {string} [subject] `user:<id>`, `api_key:<id>` or `client:<id>` */
    async show(subject) {
      if (subject !== undefined) setField('subject', subject);
      await load();
    },
    reset() {
      box.replaceChildren();
      setField('subject', '');
      setField('route', '');
    },
  };
}
