import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { hostOf, isNonPublicAddress } from './webhook-url-policy.js';

export interface WebhookResponse {
  status: number;
  /** The start of the body, at most RESPONSE_BYTES (the rest is never read). */
  excerpt: string;
}

/** How much of a receiver's answer is read: enough for an error message, never a large body. */
export const RESPONSE_BYTES = 4096;

export class WebhookRequestError extends Error {}

/**
 * POSTs signed webhook bodies. node:http does not follow redirects (a 3xx is an answer like any
 * other non-2xx); the timeout covers connecting, sending and reading; only the first few kB of
 * an answer are read, then the socket is dropped. When private targets are not allowed, every
 * connection's resolved address is checked at connect time, so DNS that changes after the
 * endpoint was saved cannot point a delivery at an internal address.
 */
export class WebhookHttpClient {
  private readonly agents: { http: http.Agent; https: https.Agent };

  constructor(
    maxSocketsPerHost: number,
    private readonly allowPrivate: boolean,
  ) {
    const options = { keepAlive: true, maxSockets: maxSocketsPerHost, maxFreeSockets: maxSocketsPerHost, scheduling: 'lifo' as const };
    this.agents = { http: new http.Agent(options), https: new https.Agent(options) };
  }

  private readonly guardedLookup: LookupFunction = (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return (callback as (error: Error | null, address: string, family: number) => void)(error, '', 0);
      const list = addresses as dns.LookupAddress[];
      const refused = list.find((entry) => isNonPublicAddress(entry.address));
      if (refused) {
        return (callback as (error: Error | null, address: string, family: number) => void)(
          new WebhookRequestError(`${hostname} resolves to the non-public address ${refused.address}`),
          '',
          0,
        );
      }
      if (options.all) return (callback as (error: null, addresses: dns.LookupAddress[]) => void)(null, list);
      (callback as (error: null, address: string, family: number) => void)(null, list[0].address, list[0].family);
    });
  };

  post(url: URL, headers: Record<string, string>, body: string, timeoutMs: number): Promise<WebhookResponse> {
    const secure = url.protocol === 'https:';
    const host = hostOf(url);
    if (!this.allowPrivate && isIP(host) && isNonPublicAddress(host)) {
      return Promise.reject(new WebhookRequestError(`${host} is a non-public address`));
    }
    const payload = Buffer.from(body, 'utf8');
    return new Promise<WebhookResponse>((resolve, reject) => {
      let settled = false;
      const finish = (error: Error | null, response?: WebhookResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(response!);
      };
      const request = (secure ? https : http).request(
        url,
        {
          method: 'POST',
          agent: secure ? this.agents.https : this.agents.http,
          headers: { ...headers, 'content-type': 'application/json', 'content-length': String(payload.length), 'user-agent': 'coupon-lists-webhooks/1' },
          ...(this.allowPrivate ? {} : { lookup: this.guardedLookup }),
        },
        (response) => {
          const chunks: Buffer[] = [];
          let kept = 0;
          const done = () => finish(null, { status: response.statusCode ?? 0, excerpt: Buffer.concat(chunks).subarray(0, RESPONSE_BYTES).toString('utf8') });
          response.on('data', (chunk: Buffer) => {
            chunks.push(chunk);
            kept += chunk.length;
            if (kept >= RESPONSE_BYTES) {
              // Enough read: answer now and drop the connection instead of reading the rest.
              done();
              request.destroy();
            }
          });
          response.on('end', done);
          response.on('error', (error) => finish(error));
          response.on('aborted', () => finish(new WebhookRequestError('the receiver closed the connection mid-answer')));
        },
      );
      const timer = setTimeout(() => {
        finish(new WebhookRequestError(`no answer within ${timeoutMs} ms`));
        request.destroy();
      }, timeoutMs);
      request.on('error', (error) => finish(error));
      request.end(payload);
    });
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}
