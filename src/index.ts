// Worker entry: the HTTP app, and the RPC entrypoint for other Workers (rpc.ts).
import { createApp } from './app';
import type { Env } from './config';

export { AuthService } from './rpc';

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
