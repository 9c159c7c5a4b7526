// Counting a request (docs/usage.md): called once by the app middleware (src/app.ts) after the
// response is known. Only requests with a verified subject (`c.get('auth')`) on a known route are
// counted, under the route as configured: Hono's matched pattern for edge-auth's own routes, the
// GATEWAY_ROUTES entry for proxied ones. A proxied response body is counted as it streams past and
// the request is recorded when the stream ends (or is cancelled): nothing is buffered.
import type { Context } from 'hono';
import { routePath } from 'hono/route';
import type { AppEnv, AuthContext } from '../app-env';
import type { SubjectType } from '../services/authenticate';
import { meterFor, subjectKey, type UsageEvent } from './meter';

/** The counted identity: a user by user id, an API key by key id, a client by client_id. */
export function subjectOf(auth: AuthContext): { type: SubjectType; id: string } {
  return { type: auth.subject, id: auth.subject === 'api_key' ? auth.sessionId : auth.userId };
}

/** "<METHOD> <pattern>", or undefined when no route of edge-auth's own answered (a 404). */
export function routeKey(c: Context<AppEnv>): string | undefined {
  const gateway = c.get('gatewayRoute');
  if (gateway !== undefined) return `${c.req.method} ${gateway}`;
  const pattern = routePath(c);
  // "*" / "/*" are middleware patterns: the request ended in one (a refusal) before any route.
  if (pattern === '' || pattern.endsWith('*')) return undefined;
  return `${c.req.method} ${pattern}`;
}

/** A body that counts the bytes passing through and reports the total once it ends or is cancelled. */
function countedBody(body: ReadableStream<Uint8Array>, done: (bytes: number) => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let bytes = 0;
  let reported = false;
  const finish = () => {
    if (!reported) {
      reported = true;
      done(bytes);
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const chunk = await reader.read();
        if (chunk.done) {
          finish();
          controller.close();
          return;
        }
        bytes += chunk.value.byteLength;
        controller.enqueue(chunk.value);
      } catch (err) {
        finish();
        controller.error(err);
      }
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason);
    },
  });
}

function deferred(c: Context<AppEnv>): (work: Promise<unknown>) => void {
  let ctx: Pick<ExecutionContext, 'waitUntil'> | undefined;
  try {
    ctx = c.executionCtx;
  } catch {
    // No execution context (app.request in a script): the work just runs.
  }
  return (work) => {
    try {
      ctx?.waitUntil(work);
    } catch {
      // The request is over (a stream ended late): the flush still runs; if the isolate goes, the
      // next flush carries nothing of it (the loss bound, docs/consistency.md).
    }
  };
}

/** Counts the request if it had a subject and a route; returns nothing and never throws. */
export function meterRequest(c: Context<AppEnv>): void {
  const auth = c.get('auth');
  const config = c.get('config');
  if (!auth || !config?.usage.metering) return;
  const route = routeKey(c);
  if (route === undefined) return;
  const subject = subjectOf(auth);
  const meter = meterFor(c.env, config);
  const defer = deferred(c);
  const analytics = c.env.USAGE_ANALYTICS;
  const res = c.res;
  const base = { subjectType: subject.type, subjectId: subject.id, route, status: res.status, at: c.get('now')() };
  const count = (event: UsageEvent) => {
    // A macrotask later: the flush starts once this response is on its way, never before it.
    if (meter.record(event)) defer(new Promise((resolve) => setTimeout(resolve, 0)).then(() => meter.flush()));
    if (analytics) {
      try {
        // Analytics Engine: no await, no cost on the response path; indexed by subject for sampling.
        analytics.writeDataPoint({
          indexes: [subjectKey(event.subjectType, event.subjectId)],
          blobs: [event.subjectType, event.subjectId, event.route],
          doubles: [event.status, event.bytesIn, event.bytesOut],
        });
      } catch {
        // Optional and best effort: the D1 counters are the record.
      }
    }
  };
  const sent = c.get('gatewayBytesIn');
  if (c.get('gatewayRoute') === undefined || res.body === null || res.status === 101) {
    count({ ...base, bytesIn: sent?.bytes ?? 0, bytesOut: 0 });
    return;
  }
  c.res = new Response(countedBody(res.body, (bytesOut) => count({ ...base, bytesIn: sent?.bytes ?? 0, bytesOut })), res);
}
