// One request to the upstream and its response, streamed both ways: the body is piped, never read
// whole, so a 100 MiB upload or an endless SSE stream costs no Worker memory. The timeout bounds
// the wait for the upstream's response headers only; once they arrive the body may take as long
// as it takes (a download, an event stream).
import { AppError } from '../errors';
import type { GatewayRoute } from './route-table';

/** Raised inside the request body stream when it grows past the route's limit. */
class BodyTooLarge extends Error {
  constructor() {
    super('the request body passed the route limit');
    this.name = 'BodyTooLarge';
  }
}

/** The cause kept on a 502/504: the failure's error name only, never its message (it can hold the address). */
export class UpstreamFailure extends Error {
  constructor(kind: string) {
    super(kind);
    this.name = 'UpstreamFailure';
  }
}

export interface BodyMeter {
  /** Bytes read from the client so far. */
  bytes: number;
  done: boolean;
  /**
   * Set by sendUpstream: cancels the upstream request. An errored body stream alone is not
   * enough: workerd ends a subrequest's body cleanly when its source stream errors, so the
   * upstream would take a truncated body for a complete one.
   */
  cancel?: () => void;
}

/**
 * The request body to send and its meter. A declared Content-Length over the limit is refused at
 * once; a body without one (chunked) is counted as it flows and cut off at the limit.
 */
export function requestBody(request: Request, route: GatewayRoute): { body: ReadableStream | null; meter: BodyMeter } {
  const meter: BodyMeter = { bytes: 0, done: false };
  if (request.body === null || request.method === 'GET' || request.method === 'HEAD') return { body: null, meter: { bytes: 0, done: true } };
  const declared = request.headers.get('content-length');
  if (declared !== null) {
    const length = /^\d{1,16}$/.test(declared.trim()) ? Number(declared.trim()) : NaN;
    if (!(length <= route.maxBodyBytes)) throw new AppError('payload_too_large', `The request body is larger than this route allows (${route.maxBodyBytes} bytes).`);
    // HTTP framing holds the body to its declared length: pass the stream on untouched (fastest).
    return { body: request.body, meter: { bytes: length, done: true } };
  }
  const limit = route.maxBodyBytes;
  const counted = request.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        meter.bytes += chunk.byteLength;
        if (meter.bytes > limit) {
          meter.cancel?.();
          controller.error(new BodyTooLarge());
        } else {
          controller.enqueue(chunk);
        }
      },
      flush() {
        meter.done = true;
      },
    }),
  );
  return { body: counted, meter };
}

export type UpstreamFetcher = (request: Request) => Promise<Response>;

/** A request ready for the upstream, and the controller that aborts it. */
export interface UpstreamCall {
  request: Request;
  controller: AbortController;
}

/**
 * The request to send: `headers` (the client's) copied natively by the Request constructor, for
 * the caller to shape in place (headers.ts), and the body streamed. Redirects are the client's to
 * follow ('manual'); duplex 'half' lets the body stream while the response is awaited.
 */
export function upstreamRequest(target: string, method: string, headers: Headers, body: ReadableStream | null): UpstreamCall {
  const controller = new AbortController();
  const request = new Request(target, { method, headers, body, signal: controller.signal, redirect: 'manual', duplex: 'half' } as RequestInit);
  return { request, controller };
}

/**
 * Sends `call` through `fetcher` (global fetch or a service binding). Maps failures to the house
 * errors: 504 when the headers did not come within the route's timeout, 413 when a chunked body
 * passed the limit, 502 otherwise. The error kept for the log is only its name: a fetch error's
 * message can contain the upstream's address.
 *
 * The timeout is a timer cleared once the headers are in, not `AbortSignal.timeout`: that one
 * would also cut a body still streaming when it fires (a service binding's event stream, for one),
 * which test/gateway.test.ts ("a stream outlives the route's timeout") guards against.
 */
export async function sendUpstream(fetcher: UpstreamFetcher, call: UpstreamCall, route: GatewayRoute, meter: BodyMeter): Promise<Response> {
  const { controller } = call;
  meter.cancel = () => controller.abort();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, route.timeoutMs);
  try {
    return await fetcher(call.request);
  } catch (err) {
    const cause = new UpstreamFailure(err instanceof Error ? err.name : 'non-error');
    if (timedOut) throw new AppError('gateway_timeout', undefined, { cause });
    if (meter.bytes > route.maxBodyBytes) throw new AppError('payload_too_large', `The request body is larger than this route allows (${route.maxBodyBytes} bytes).`);
    throw new AppError('bad_gateway', undefined, { cause });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The client's response: the upstream's status and body (streamed, never read here) with its
 * headers copied natively, for the caller to shape in place (headers.ts). A WebSocket handshake
 * hands the client the upstream's socket.
 */
export function clientResponse(upstream: Response): Response {
  if (upstream.status === 101 && upstream.webSocket) {
    return new Response(null, { status: 101, webSocket: upstream.webSocket, headers: upstream.headers });
  }
  return new Response(upstream.body, { status: upstream.status, statusText: upstream.statusText, headers: upstream.headers });
}
