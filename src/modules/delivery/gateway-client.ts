import http from 'node:http';
import https from 'node:https';

export interface GatewayResponse {
  status: number;
  /** The start of the response body (for error messages). */
  excerpt: string;
}

export class GatewayTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`the gateway did not answer within ${timeoutMs} ms`);
  }
}

const EXCERPT_BYTES = 1024;

/**
 * POSTs JSON to a gateway over keep-alive connections. node:http rather than fetch: at thousands
 * of sends per second, fetch's web streams, abort signals and per-request objects cost several
 * times the CPU of the request itself (measured with the delivery benchmark). The timeout covers
 * the whole exchange, from connecting to the last byte of the answer.
 */
export class GatewayClient {
  private readonly agents: { 'http:': http.Agent; 'https:': https.Agent };
  private readonly urls = new Map<string, URL>();

  constructor(maxSockets: number) {
    const options = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' as const };
    this.agents = { 'http:': new http.Agent(options), 'https:': new https.Agent(options) };
  }

  post(target: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<GatewayResponse> {
    let url = this.urls.get(target);
    if (!url) {
      url = new URL(target);
      this.urls.set(target, url);
    }
    const secure = url.protocol === 'https:';
    const payload = Buffer.from(body, 'utf8');
    return new Promise<GatewayResponse>((resolve, reject) => {
      const request = (secure ? https : http).request(
        url,
        {
          method: 'POST',
          agent: secure ? this.agents['https:'] : this.agents['http:'],
          headers: { ...headers, 'content-type': 'application/json', 'content-length': String(payload.length) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          let kept = 0;
          response.on('data', (chunk: Buffer) => {
            if (kept < EXCERPT_BYTES) {
              chunks.push(chunk);
              kept += chunk.length;
            }
          });
          response.on('end', () => {
            clearTimeout(timer);
            resolve({ status: response.statusCode ?? 0, excerpt: Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString('utf8') });
          });
          response.on('error', (error) => {
            clearTimeout(timer);
            reject(error);
          });
        },
      );
      const timer = setTimeout(() => request.destroy(new GatewayTimeoutError(timeoutMs)), timeoutMs);
      request.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      request.end(payload);
    });
  }

  close(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }
}
