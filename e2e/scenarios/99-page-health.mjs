// Last: nothing went wrong inside any page during the whole run.
import assert from 'node:assert/strict';

/** @param {import('../run.mjs').Scenario} t */
export default async function pageHealth(t) {
  await t.step('no CSP violations or uncaught errors in the SPA', async () => {
    assert.deepEqual(t.kit.pageProblems, []);
  }, { critical: false });
}
