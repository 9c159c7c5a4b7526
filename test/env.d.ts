import type { D1Migration } from '@cloudflare/vitest-plugin';
import type { Env as AppBindings } from '../src/config';

declare global {
  namespace Cloudflare {
    interface Env extends AppBindings {
      TEST_MIGRATIONS: D1Migration[];
      // The gateway tests' upstreams (vitest.config.ts).
      UPSTREAM: Fetcher;
      BROKEN: Fetcher;
    }
    interface GlobalProps {
      // Types `exports` from 'cloudflare:workers' (the RPC entrypoint in tests).
      mainModule: typeof import('../src/index');
    }
  }
}

