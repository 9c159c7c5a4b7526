// Worker entry: the HTTP app, the scheduled clean-up, and the RPC entrypoint for other Workers (rpc.ts).
import { createApp } from './app';
import { getConfig, type Env } from './config';
import { describeError, log } from './lib/log';
import { runCleanup } from './services/cleanup';

export { AuthService } from './rpc';

const app = createApp();

export default {
  fetch: app.fetch,
  // Cron trigger (wrangler.toml [triggers]): the scheduled time is the clock, so a delayed or
  // retried run deletes exactly what had expired when it was due.
  async scheduled(controller, env) {
    try {
      const result = await runCleanup(env.DB, getConfig(env), Math.floor(controller.scheduledTime / 1000));
      log('info', 'cleanup', { cron: controller.cron, ...result });
    } catch (err) {
      // Logged through describeError (no bound query parameters), then rethrown so the run counts as failed.
      log('error', 'cleanup.failed', { cron: controller.cron, cause: describeError(err) });
      throw err;
    }
  },
} satisfies ExportedHandler<Env>;
