import { Counter, Histogram, Registry, Gauge, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one process (its own registry, so tests can run several apps). */
export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['route'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly graphqlOperations = new Counter({
    name: 'graphql_operations_total',
    help: 'GraphQL operations by root field and outcome',
    labelNames: ['field', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly apiKeyLookups = new Counter({
    name: 'api_key_lookups_total',
    help: 'API key secrets looked up in the database (cache misses)',
    registers: [this.registry],
  });

  readonly claims = new Counter({
    name: 'coupon_claims_total',
    help: 'claimCoupon results: assigned, reused, or the error code',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly claimDuration = new Histogram({
    name: 'coupon_claim_duration_seconds',
    help: 'Time from a claim entering the claim engine to its answer',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });

  readonly claimBatchSize = new Histogram({
    name: 'coupon_claim_batch_size',
    help: 'Claims handled together in one database transaction',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });

  readonly transactionRetries = new Counter({
    name: 'db_transaction_retries_total',
    help: 'Transactions run again, by cause: deadlock (on Galera also a certification failure), lock_wait_timeout, node_not_ready, write_conflict, connection_lost, commit_unknown',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly deliverySends = new Counter({
    name: 'coupon_delivery_sends_total',
    help: 'SMS/push send attempts by channel and outcome (SENT, RETRY, FAILED)',
    labelNames: ['channel', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly deliverySendDuration = new Histogram({
    name: 'coupon_delivery_gateway_seconds',
    help: 'Gateway request time by channel',
    labelNames: ['channel'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly queueDepth: Gauge<'queue' | 'state'>;

  constructor(queueDepths: () => Promise<Array<{ queue: string; state: string; count: number }>>) {
    collectDefaultMetrics({ register: this.registry });
    this.queueDepth = new Gauge({
      name: 'queue_jobs',
      help: 'BullMQ jobs by queue and state',
      labelNames: ['queue', 'state'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const row of await queueDepths().catch(() => [])) this.set({ queue: row.queue, state: row.state }, row.count);
      },
    });
  }
}
