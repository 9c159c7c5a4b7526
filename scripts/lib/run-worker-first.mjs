// Which paths `[assets] run_worker_first` sends to the Worker, as Workers Static Assets reads the
// list: route patterns where `*` matches any run of characters (slashes included), and patterns
// starting with `!` that exclude paths again (an exclusion wins over any inclusion). Used by the
// deploy pre-flight (scripts/preflight.mjs) and the wrangler.toml test (test-node/gateway-toml.test.mjs)
// to prove that every gateway route reaches the Worker instead of the SPA fallback.

/** @param {string} glob */
function toRegExp(glob) {
  return new RegExp(`^${glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/**
 * @param {readonly string[] | boolean | undefined} setting the `run_worker_first` value
 * @returns {{ reaches(path: string): boolean, included(path: string): boolean, excludedAt(path: string): string[], excludedUnder(prefix: string): string[] }}
 */
export function runWorkerFirst(setting) {
  const patterns = Array.isArray(setting) ? setting : [];
  const include = patterns.filter((p) => !p.startsWith('!')).map(toRegExp);
  const exclude = patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
  const excludeRe = exclude.map((glob) => ({ glob, re: toRegExp(glob) }));
  const included = (path) => setting === true || include.some((re) => re.test(path));
  const excludedAt = (path) => (setting === true ? [] : excludeRe.filter(({ re }) => re.test(path)).map(({ glob }) => `!${glob}`));
  return {
    /** Whether a request for `path` runs the Worker first. */
    reaches: (path) => included(path) && excludedAt(path).length === 0,
    /** Whether an inclusion matches `path` (exclusions aside). */
    included,
    /** The exclusions (`!` patterns) that match `path`. */
    excludedAt,
    /**
     * The exclusions (`!` patterns) that can match some path below `prefix/`: its literal head (up
     * to the first `*`) and `prefix/` are one a prefix of the other. Conservative: `"!/*.js"` counts
     * for every prefix, as it should (`/app-api/bundle.js` would be answered by the assets).
     */
    excludedUnder(prefix) {
      if (setting === true) return [];
      const below = `${prefix}/`;
      return exclude
        .filter((glob) => {
          const star = glob.indexOf('*');
          if (star < 0) return glob === prefix || glob.startsWith(below);
          const head = glob.slice(0, star);
          return head.startsWith(below) || below.startsWith(head);
        })
        .map((glob) => `!${glob}`);
    },
  };
}
