// @ts-check
// DOM helpers of the admin console. Every piece of data reaches the page through textContent or
// an attribute (never innerHTML), so a username or an audit detail cannot become markup.
import { AuthApiError } from '../js/edge-auth-client.js';

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @returns {T}
 */
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return /** @type {T} */ (el);
}

/**
 * Creates an element: `h('td', { className: 'x', dataset: { id } }, 'text', child)`.
 * Strings become text nodes.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Partial<Omit<HTMLElementTagNameMap[K], 'dataset'>> & { dataset?: Record<string, string> }} [props]
 * @param {(Node | string | null | undefined | false)[]} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  const { dataset, ...rest } = props;
  Object.assign(el, rest);
  if (dataset) Object.assign(el.dataset, dataset);
  for (const child of children) if (child !== null && child !== undefined && child !== false) el.append(child);
  return el;
}

/** @param {string} text @param {() => void | Promise<void>} onClick @param {string} [className] */
export function button(text, onClick, className = 'secondary') {
  const b = h('button', { type: 'button', className, textContent: text });
  b.addEventListener('click', () => void guarded(b, onClick));
  return b;
}

/**
 * A destructive action in two clicks: the first arms the button for five seconds, the second runs
 * it. No window.confirm: it blocks the page and automation dismisses it.
 * @param {string} text
 * @param {() => void | Promise<void>} onConfirm
 */
export function dangerButton(text, onConfirm) {
  const b = h('button', { type: 'button', className: 'danger', textContent: text });
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  b.addEventListener('click', () => {
    if (b.dataset.armed !== 'true') {
      b.dataset.armed = 'true';
      b.textContent = `${text}: click again to confirm`;
      timer = setTimeout(() => {
        delete b.dataset.armed;
        b.textContent = text;
      }, 5000);
      return;
    }
    clearTimeout(timer);
    delete b.dataset.armed;
    b.textContent = text;
    void guarded(b, onConfirm);
  });
  return b;
}

/** @param {unknown} err */
export function describe(err) {
  if (err instanceof AuthApiError) return `${err.message || err.code} (${err.status} ${err.code})`;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** @type {(err: unknown) => void} */
let onError = () => undefined;
/** Where failures of actions go (the console's status line and its refusal logic). @param {(err: unknown) => void} fn */
export function setErrorHandler(fn) {
  onError = fn;
}

/** @param {string} text @param {'ok' | 'error' | ''} [kind] */
export function setStatus(text, kind = '') {
  const el = $('status');
  el.textContent = text;
  el.className = `status ${kind}`;
}

/**
 * Runs an action with its button disabled; a failure is shown in the page, never thrown away.
 * @param {HTMLButtonElement | null} b
 * @param {() => void | Promise<void>} action
 */
export async function guarded(b, action) {
  if (b) b.disabled = true;
  try {
    await action();
  } catch (err) {
    onError(err);
  } finally {
    if (b) b.disabled = false;
  }
}

/** @param {string | number | null | undefined} value Unix seconds, ms or an ISO date */
export function formatTime(value) {
  if (value === null || value === undefined || value === '') return '–';
  const date = typeof value === 'number' ? new Date(value < 1e12 ? value * 1000 : value) : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

/**
 * A table with a header row and one row per item.
 * @template T
 * @param {string[]} headings
 * @param {T[]} items
 * @param {(item: T) => HTMLTableRowElement} row
 * @param {string} [empty] text when there is no item
 */
export function table(headings, items, row, empty = 'Nothing here.') {
  if (items.length === 0) return h('p', { className: 'muted small', textContent: empty });
  return h(
    'table',
    { className: 'grid-table' },
    h('thead', {}, h('tr', {}, ...headings.map((t) => h('th', { textContent: t })))),
    h('tbody', {}, ...items.map(row)),
  );
}

/** @param {(Node | string)[]} cells */
export function cells(...cells) {
  return cells.map((c) => (typeof c === 'string' ? h('td', { textContent: c }) : h('td', {}, c)));
}

/** Form fields as strings, empty ones left out. @param {HTMLFormElement} form */
export function formValues(form) {
  /** @type {Record<string, string>} */
  const values = {};
  for (const [k, v] of new FormData(form)) {
    const s = String(v).trim();
    if (s !== '') values[k] = s;
  }
  return values;
}

/** "a, b c" → ["a", "b", "c"] @param {string} text */
export function splitList(text) {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))];
}
