// Counting a request (docs/usage.md): called once by the app middleware (src/app.ts) after the
// response is known. Only requests with a verified subject (`c.get('auth')`) on a known route are
// counted, under the route as configured: Hono's matched pattern for edge-auth's own routes, the
// GATEWAY_ROUTES entry for proxied ones. A proxied response's bytes out are its Content-Length when
// the upstream declared one (the body keeps its native stream); otherwise the body is counted as it
// streams past and the request is recorded when the stream ends or is cancelled: nothing is buffered.
import type { Context } from 'hono';
import { routePath } from 'hono/route';
import type { AppEnv, AuthContext } from '../app-env';
import type { SubjectType } from '../services/authenticate';
import { meterFor, subjectKey, type UsageEvent, type UsageMeter } from './meter';

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

/** Records one event; a due flush starts under waitUntil a macrotask later, once this response is on its way. */
function count(c: Context<AppEnv>, meter: UsageMeter, event: UsageEvent): void {
  if (meter.record(event)) {
    const flush = new Promise((resolve) => setTimeout(resolve, 0)).then(() => meter.flush());
    try {
      c.executionCtx.waitUntil(flush);
    } catch {
      // No execution context (app.request in a script), or a stream that ended after the request:
      // the flush runs anyway; if the isolate goes first, that is the loss bound (docs/consistency.md).
    }
  }
  const analytics = c.env.USAGE_ANALYTICS;
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
}

const DIGITS = /^\d+$/;

/** Counts the request if it had a subject and a route; returns nothing and never throws. */
export function meterRequest(c: Context<AppEnv>): void {
  const auth = c.get('auth');
  if (!auth) return;
  const config = c.get('config');
  if (!config.usage.metering) return;
  const route = routeKey(c);
  if (route === undefined) return;
  const res = c.res;
  const subject = subjectOf(auth);
  const event: UsageEvent = { subjectType: subject.type, subjectId: subject.id, route, status: res.status, at: c.get('now')(), bytesIn: 0, bytesOut: 0 };
  const meter = meterFor(c.env, config);
  if (c.get('gatewayRoute') === undefined) return count(c, meter, event);
  const sent = c.get('gatewayBytesIn');
  const length = res.headers.get('content-length');
  if (res.body === null || res.status === 101 || (length !== null && DIGITS.test(length))) {
    // A declared length is what a completed response transfers: the body keeps its native stream.
    event.bytesIn = sent?.bytes ?? 0;
    event.bytesOut = res.body === null || length === null ? 0 : Number(length);
    return count(c, meter, event);
  }
  c.res = new Response(
    countedBody(res.body, (bytesOut) => {
      event.bytesIn = sent?.bytes ?? 0;
      event.bytesOut = bytesOut;
      count(c, meter, event);
    }),
    res,
  );
}
