// Worker entry: the HTTP app. (The RPC entrypoint for other Workers lives in rpc.ts.)
import { createApp } from './app';
import type { Env } from './config';

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
