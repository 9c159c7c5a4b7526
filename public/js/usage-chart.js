// @ts-check
// Usage as two small inline SVG charts, drawn with DOM APIs only (no library, no CDN, nothing
// inline for the CSP to refuse: colours come from classes in the page's own stylesheet).
// Shared by the demo SPA (GET /auth/usage) and the admin console (GET /admin/usage).
//
//   requests over time: one column per hour or day of the window (all routes together);
//   requests per route: one bar per route key, split by status class, with its count written beside it.
//
// Every number drawn is also on its element (data-requests), so a test can compare what is drawn
// with what it did.

const SVG = 'http://www.w3.org/2000/svg';
const STATUS_CLASSES = /** @type {const} */ (['2xx', '3xx', '4xx', '5xx']);
const STEP_MS = { hour: 3_600_000, day: 86_400_000 };
/** More columns than this are not readable at this size; the window is then drawn from its end. */
const MAX_COLUMNS = 800;

/**
 * @typedef {{ '2xx': number, '3xx': number, '4xx': number, '5xx': number }} StatusCounts
 * @typedef {{ start: string, route: string, requests: number, status?: Partial<StatusCounts>, bytes_in?: number, bytes_out?: number }} UsageBucket
 * @typedef {{ from: string, to: string, granularity: 'hour' | 'day', label?: string }} UsageWindow
 */

/**
 * @param {string} name
 * @param {Record<string, string | number>} [attrs]
 * @param {string} [text]
 * @returns {SVGElement}
 */
function svg(name, attrs = {}, text) {
  const el = /** @type {SVGElement} */ (document.createElementNS(SVG, name));
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** @param {SVGElement} el @param {string} text */
function withTitle(el, text) {
  el.append(svg('title', {}, text));
  return el;
}

/** @param {number} ms @param {'hour' | 'day'} granularity */
function slotLabel(ms, granularity) {
  const iso = new Date(ms).toISOString();
  return granularity === 'day' ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** @param {number} n */
function formatCount(n) {
  return n.toLocaleString('en-US');
}

/**
 * Requests per time slot, all routes together.
 * @param {UsageBucket[]} buckets
 * @param {UsageWindow} window
 */
export function timeChart(buckets, window) {
  const step = STEP_MS[window.granularity];
  const to = Date.parse(window.to);
  let first = Math.floor(Date.parse(window.from) / step) * step;
  if (!Number.isFinite(first) || !Number.isFinite(to) || to <= first) first = to - step;
  first = Math.max(first, to - MAX_COLUMNS * step);
  /** @type {Map<number, number>} */
  const perSlot = new Map();
  for (const b of buckets) {
    const slot = Math.floor(Date.parse(b.start) / step) * step;
    perSlot.set(slot, (perSlot.get(slot) ?? 0) + b.requests);
  }
  const slots = [];
  for (let t = first; t < to; t += step) slots.push(t);
  const width = 600;
  const height = 120;
  const top = 14;
  const bottom = 16;
  const max = Math.max(1, ...slots.map((t) => perSlot.get(t) ?? 0));
  const colWidth = width / Math.max(1, slots.length);
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'usage-chart usage-time', role: 'img' });
  chart.append(svg('title', {}, `Requests per ${window.granularity}${window.label ? ` for ${window.label}` : ''}`));
  chart.append(svg('line', { x1: 0, y1: height - bottom, x2: width, y2: height - bottom, class: 'axis' }));
  chart.append(svg('text', { x: 2, y: 10, class: 'tick' }, `max ${formatCount(max)}`));
  slots.forEach((t, i) => {
    const n = perSlot.get(t) ?? 0;
    if (n === 0) return;
    const h = Math.max(1, ((height - top - bottom) * n) / max);
    const col = withTitle(
      svg('rect', {
        x: (i * colWidth + colWidth * 0.1).toFixed(2),
        y: (height - bottom - h).toFixed(2),
        width: Math.max(0.5, colWidth * 0.8).toFixed(2),
        height: h.toFixed(2),
        class: 'col',
        'data-start': new Date(t).toISOString(),
        'data-requests': n,
      }),
      `${slotLabel(t, window.granularity)}: ${formatCount(n)} request${n === 1 ? '' : 's'}`,
    );
    chart.append(col);
  });
  if (slots.length) {
    chart.append(svg('text', { x: 2, y: height - 3, class: 'tick' }, slotLabel(slots[0], window.granularity)));
    chart.append(svg('text', { x: width - 2, y: height - 3, class: 'tick end', 'text-anchor': 'end' }, slotLabel(slots[slots.length - 1], window.granularity)));
  }
  return chart;
}

/**
 * Requests per route over the whole window, each bar split by status class.
 * @param {UsageBucket[]} buckets
 */
export function routeChart(buckets) {
  /** @type {Map<string, { requests: number, status: StatusCounts }>} */
  const perRoute = new Map();
  for (const b of buckets) {
    const r = perRoute.get(b.route) ?? { requests: 0, status: { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 } };
    r.requests += b.requests;
    for (const k of STATUS_CLASSES) r.status[k] += b.status?.[k] ?? 0;
    perRoute.set(b.route, r);
  }
  const routes = [...perRoute.entries()].sort((a, b) => b[1].requests - a[1].requests || a[0].localeCompare(b[0]));
  const width = 600;
  const row = 22;
  const labelWidth = 230;
  const countWidth = 60;
  const barSpace = width - labelWidth - countWidth;
  const max = Math.max(1, ...routes.map(([, r]) => r.requests));
  const height = Math.max(row, routes.length * row);
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'usage-chart usage-routes', role: 'img' });
  chart.append(svg('title', {}, 'Requests per route'));
  routes.forEach(([route, r], i) => {
    const y = i * row;
    const g = svg('g', { class: 'route', 'data-route': route, 'data-requests': r.requests });
    g.append(svg('text', { x: 0, y: y + 15, class: 'label' }, route.length > 34 ? `${route.slice(0, 33)}…` : route));
    let x = labelWidth;
    const scale = barSpace / max;
    for (const k of STATUS_CLASSES) {
      const n = r.status[k];
      if (!n) continue;
      g.append(withTitle(svg('rect', { x: x.toFixed(2), y: y + 4, width: Math.max(1, n * scale).toFixed(2), height: row - 8, class: `bar s${k}` }), `${route}: ${n} × ${k}`));
      x += n * scale;
    }
    // Requests whose status class the server did not report (older rows) still get their bar.
    const classified = STATUS_CLASSES.reduce((s, k) => s + r.status[k], 0);
    if (r.requests > classified) {
      g.append(svg('rect', { x: x.toFixed(2), y: y + 4, width: Math.max(1, (r.requests - classified) * scale).toFixed(2), height: row - 8, class: 'bar' }));
    }
    g.append(svg('text', { x: width, y: y + 15, class: 'count end', 'text-anchor': 'end' }, formatCount(r.requests)));
    chart.append(g);
  });
  return chart;
}

/**
 * Both charts with a caption, or a sentence when there is nothing to draw.
 * @param {UsageBucket[]} buckets
 * @param {UsageWindow} window
 * @returns {HTMLElement}
 */
export function usageFigure(buckets, window) {
  const figure = document.createElement('figure');
  figure.className = 'usage';
  const total = buckets.reduce((s, b) => s + b.requests, 0);
  figure.dataset.total = String(total);
  const caption = document.createElement('figcaption');
  caption.textContent = `${window.label ? `${window.label}: ` : ''}${formatCount(total)} request${total === 1 ? '' : 's'}, ${slotLabel(Date.parse(window.from), 'hour')} to ${slotLabel(Date.parse(window.to), 'hour')}`;
  figure.append(caption);
  if (total === 0) {
    const p = document.createElement('p');
    p.className = 'muted small';
    p.textContent = 'No requests counted in this window yet (counts reach storage within a few seconds).';
    figure.append(p);
    return figure;
  }
  figure.append(timeChart(buckets, window), routeChart(buckets));
  return figure;
}
