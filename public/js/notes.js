// @ts-check
// The Notes panel: the example origin (examples/origin) behind edge-auth's gateway. The page calls
// /app-api/notes on its own origin with the session cookies; edge-auth checks them (and the CSRF
// header the client adds to unsafe requests), then forwards the request to the origin with a
// signed identity. The page never talks to the origin itself.
import { AuthApiError } from './edge-auth-client.js';

/** @typedef {{ id: string, text: string, created_at: number }} Note */

const NOTES = '/app-api/notes';

/**
 * @param {import('./edge-auth-client.js').AuthClient} auth
 * @param {{ log: (text: string) => void }} ui
 */
export function createNotesPanel(auth, ui) {
  const list = /** @type {HTMLUListElement} */ (document.getElementById('notes'));
  const status = /** @type {HTMLElement} */ (document.getElementById('notes-status'));
  const form = /** @type {HTMLFormElement} */ (document.getElementById('note-form'));
  const input = /** @type {HTMLInputElement} */ (document.getElementById('note-text'));

  /** @param {unknown} err */
  function explain(err) {
    if (err instanceof AuthApiError && (err.code === 'bad_gateway' || err.code === 'gateway_timeout')) {
      return 'The example origin is not answering: start it with `npm run dev -- --origin`.';
    }
    return err instanceof Error ? err.message : String(err);
  }

  /** @param {Note[]} notes */
  function render(notes) {
    list.replaceChildren(
      ...notes.map((note) => {
        const li = document.createElement('li');
        li.dataset.noteId = note.id;
        const text = document.createElement('span');
        text.className = 'note-text';
        text.textContent = note.text;
        const remove = document.createElement('button');
        remove.type = 'button';
        remove.className = 'note-delete';
        remove.textContent = 'Delete';
        remove.addEventListener('click', () => void removeNote(note.id, remove));
        li.append(text, remove);
        return li;
      }),
    );
  }

  async function load() {
    try {
      const { notes } = /** @type {{ notes: Note[] }} */ (await auth.request(NOTES));
      render(notes);
      status.textContent = notes.length ? '' : 'No notes yet.';
      ui.log(`GET ${NOTES} (gateway) → ${notes.length} note(s)`);
    } catch (err) {
      status.textContent = explain(err);
      ui.log(`GET ${NOTES} (gateway) failed: ${explain(err)}`);
    }
  }

  /** @param {string} id @param {HTMLButtonElement} button */
  async function removeNote(id, button) {
    button.disabled = true;
    try {
      await auth.request(`${NOTES}/${encodeURIComponent(id)}`, { method: 'DELETE' });
      ui.log(`DELETE ${NOTES}/${id} (gateway) → 204`);
      await load();
    } catch (err) {
      status.textContent = explain(err);
      button.disabled = false;
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    const button = /** @type {HTMLButtonElement} */ (document.getElementById('note-add'));
    button.disabled = true;
    try {
      await auth.request(NOTES, { method: 'POST', body: { text } });
      ui.log(`POST ${NOTES} (gateway) → 201`);
      form.reset();
      await load();
    } catch (err) {
      status.textContent = explain(err);
    } finally {
      button.disabled = false;
    }
  });

  return {
    load,
    clear() {
      list.replaceChildren();
      status.textContent = '';
    },
  };
}
