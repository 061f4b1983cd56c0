import dns from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, type Dispatcher } from 'undici';
import { hostOf, isNonPublicAddress } from './webhook-url-policy.js';

export interface WebhookResponse {
  status: number;
  /** The start of the body, at most RESPONSE_BYTES (the rest is never read). */
  excerpt: string;
}

/** How much of a receiver's answer is read: enough for an error message, never a large body. */
export const RESPONSE_BYTES = 4096;

export class WebhookRequestError extends Error {}

type LookupCallback = (error: Error | null, address: string | dns.LookupAddress[], family?: number) => void;

/**
 * One request's callbacks for undici's dispatcher: the status, the first RESPONSE_BYTES of the
 * body, then the connection is dropped. A deadline that passes before the request is on a socket
 * settles at once and aborts the request as soon as undici starts it.
 */
class ExcerptHandler implements Dispatcher.DispatchHandler {
  private status = 0;
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private settled = false;
  private controller: Dispatcher.DispatchController | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    timeoutMs: number,
    private readonly resolve: (response: WebhookResponse) => void,
    private readonly reject: (error: Error) => void,
  ) {
    this.timer = setTimeout(() => this.fail(new WebhookRequestError(`no answer within ${timeoutMs} ms`), true), timeoutMs);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.settled) controller.abort(new WebhookRequestError('timed out before it was sent'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    // 1xx informational answers come before the real one.
    if (statusCode >= 200) this.status = statusCode;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) return;
    this.chunks.push(chunk);
    this.kept += chunk.length;
    if (this.kept >= RESPONSE_BYTES) {
      // Enough read: answer now and drop the connection instead of reading the rest.
      this.succeed();
      controller.abort(new WebhookRequestError('answer longer than needed'));
    }
  }

  onResponseEnd(): void {
    this.succeed();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.fail(error, false);
  }

  private succeed(): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    const body = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    this.resolve({ status: this.status, excerpt: body.subarray(0, RESPONSE_BYTES).toString('utf8') });
  }

  private fail(error: Error, abort: boolean): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    if (abort) this.controller?.abort(error);
    this.reject(error);
  }
}

/**
 * POSTs signed webhook bodies over undici (Node's own HTTP client engine, far less work per
 * request than node:http). Redirects are not followed (a 3xx is an answer like any other
 * non-2xx); the timeout covers connecting, sending and reading; only the first few kB of an
 * answer are read, then the connection is dropped. When private targets are not allowed, every
 * connection's resolved address is checked at connect time, so DNS that changes after the
 * endpoint was saved cannot point a delivery at an internal address.
 */
export class WebhookHttpClient {
  private readonly agent: Agent;

  constructor(private readonly allowPrivate: boolean) {
    this.agent = new Agent({
      // No limit per host: endpoints on one host (paths of one receiver) would share its sockets,
      // and a dead one holding its requests open would starve the others. Each endpoint's job
      // bounds its own requests in flight (WEBHOOK_ENDPOINT_CONCURRENCY).
      connections: null,
      pipelining: 1,
      connect: allowPrivate ? {} : { lookup: this.guardedLookup },
    });
  }

  private readonly guardedLookup: LookupFunction = (hostname, options, callback) => {
    const answer = callback as LookupCallback;
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return answer(error, '', 0);
      const refused = addresses.find((entry) => isNonPublicAddress(entry.address));
      if (refused) return answer(new WebhookRequestError(`${hostname} resolves to the non-public address ${refused.address}`), '', 0);
      if (options.all) return answer(null, addresses);
      answer(null, addresses[0].address, addresses[0].family);
    });
  };

  post(url: URL, headers: Record<string, string>, body: string, timeoutMs: number): Promise<WebhookResponse> {
    const host = hostOf(url);
    if (!this.allowPrivate && isIP(host) && isNonPublicAddress(host)) {
      return Promise.reject(new WebhookRequestError(`${host} is a non-public address`));
    }
    return new Promise<WebhookResponse>((resolve, reject) => {
      const handler = new ExcerptHandler(timeoutMs, resolve, reject);
      this.agent.dispatch(
        {
          origin: url.origin,
          path: url.pathname + url.search,
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json', 'user-agent': 'coupon-lists-webhooks/1' },
          body,
          // The overall deadline is the handler's timer; these only keep undici's own defaults (300 s) out of the way.
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        },
        handler,
      );
    });
  }

  close(): void {
    void this.agent.destroy().catch(() => undefined);
  }
}
