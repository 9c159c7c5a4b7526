// @ts-check
// The audit log (GET /admin/audit), newest first, with its filters: subject, actor, event, outcome,
// and a time range (the form's local times become the API's Unix seconds). Details are shown as
// JSON text; the service never puts a secret in them (docs/administration.md).
import { $, cells, formatTime, formValues, guarded, h, table } from './dom.js';

/**
 * @typedef {{ id: number, at: number, event: string, outcome: 'success' | 'failure', actor_id: string | null,
 *   subject_id: string | null, ip: string | null, user_agent: string | null, request_id: string | null, detail: unknown }} AuditRow
 */

const FILTERS = ['user', 'actor', 'event', 'outcome', 'since', 'until'];

/** @param {import('../js/edge-auth-client.js').AuthClient} auth */
export function createAuditView(auth) {
  const form = /** @type {HTMLFormElement} */ ($('audit-filters'));
  const list = $('audit-list');
  const more = /** @type {HTMLButtonElement} */ ($('audit-more'));
  /** @type {AuditRow[]} */
  let rows = [];
  /** @type {string | null} */
  let nextCursor = null;
  /** @type {URLSearchParams} */
  let query = new URLSearchParams();

  /** The form as API parameters: datetime-local values become Unix seconds. */
  function readForm() {
    const values = formValues(form);
    const q = new URLSearchParams({ limit: '50' });
    for (const name of FILTERS) {
      const v = values[name];
      if (v === undefined) continue;
      if (name === 'since' || name === 'until') {
        const ms = new Date(v).getTime();
        if (Number.isNaN(ms)) throw new Error(`${name} is not a date`);
        q.set(name, String(Math.floor(ms / 1000) + (name === 'until' ? 59 : 0)));
      } else {
        q.set(name, v);
      }
    }
    return q;
  }

  /** @param {boolean} append */
  async function load(append) {
    const q = new URLSearchParams(query);
    if (append && nextCursor) q.set('cursor', nextCursor);
    /** @type {{ events: AuditRow[], next_cursor: string | null }} */
    const page = await auth.request(`/admin/audit?${q}`);
    rows = append ? [...rows, ...page.events] : page.events;
    nextCursor = page.next_cursor;
    render();
    list.dataset.query = query.toString(); // what is shown (for tests and the curious)
  }

  function render() {
    list.replaceChildren(
      table(['When', 'Event', 'Outcome', 'Actor', 'Subject', 'IP', 'Detail'], rows, (r) =>
        h(
          'tr',
          { className: r.outcome, dataset: { event: r.event, subjectId: r.subject_id ?? '', actorId: r.actor_id ?? '' } },
          ...cells(
            formatTime(r.at),
            r.event,
            r.outcome,
            r.actor_id ?? '–',
            r.subject_id ?? '–',
            r.ip ?? '–',
            h('code', { className: 'detail', textContent: r.detail === null || r.detail === undefined ? '' : JSON.stringify(r.detail) }),
          ),
        ),
        'No audit event matches.',
      ),
    );
    more.hidden = nextCursor === null;
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void guarded(/** @type {HTMLButtonElement} */ ($('audit-submit')), async () => {
      query = readForm();
      await load(false);
    });
  });
  form.addEventListener('reset', () => {
    query = new URLSearchParams({ limit: '50' });
    void guarded(null, () => load(false));
  });
  more.addEventListener('click', () => void guarded(more, () => load(true)));

  return {
    /**
     * Shows the log, with these filters when given (from a user's page, for instance).
     * @param {Record<string, string>} [filters]
     */
    async show(filters) {
      if (filters) {
        for (const name of FILTERS) {
          const field = form.elements.namedItem(name);
          if (field instanceof HTMLInputElement || field instanceof HTMLSelectElement) field.value = filters[name] ?? '';
        }
      }
      query = readForm();
      await load(false);
    },
    reset() {
      rows = [];
      nextCursor = null;
      list.replaceChildren();
      delete list.dataset.query;
    },
  };
}
