import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub } from '@graphql-yoga/subscription';
import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';

const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** Payloads cross Redis as JSON; ISO timestamps come back as Dates. */
const serializer = {
  stringify: (value: unknown) => JSON.stringify(value),
  parse: (text: string) => JSON.parse(text, (_key, value) => (typeof value === 'string' && ISO_DATE.test(value) ? new Date(value) : value)),
};

export interface AppPubSub {
  publish(topic: string, payload: unknown): void;
  subscribe(topic: string): AsyncIterable<unknown>;
  /**
   * Called each time the subscriber connection is back after it was lost (e.g. a Redis failover):
   * ioredis subscribes again by itself, but what was published meanwhile is gone, so listeners
   * send current state instead.
   */
  onResubscribed(listener: () => void): void;
}

/**
 * Cross-process pub/sub over Redis, in the shape type-graphql's `pubSub` option expects.
 * Every topic is namespaced with the prefix so that several deployments (or test files) can
 * share one Redis.
 */
export function createAppPubSub(publishClient: Redis, subscribeClient: Redis, prefix: string, logger: Logger): AppPubSub {
  const pubSub = createPubSub({
    eventTarget: createRedisEventTarget({ publishClient, subscribeClient, serializer }),
  });
  const channel = (topic: string) => `${prefix}:events:${topic}`;
  const resubscribed: Array<() => void> = [];
  let lost = false;
  subscribeClient.on('close', () => (lost = true));
  subscribeClient.on('ready', () => {
    if (!lost) return;
    lost = false;
    logger.info('pub/sub connection is back; subscribers get current state');
    for (const listener of resubscribed) listener();
  });
  return {
    onResubscribed: (listener) => resubscribed.push(listener),
    // Published straight to Redis (not through the event target, which drops the promise) so that
    // a Redis outage is logged here instead of surfacing as an unhandled rejection.
    publish: (topic, payload) => {
      publishClient.publish(channel(topic), serializer.stringify(payload)).catch((error: unknown) => {
        logger.warn({ err: error, topic }, 'pub/sub publish failed');
      });
    },
    subscribe: (topic) => pubSub.subscribe(channel(topic)) as AsyncIterable<unknown>,
  };
}
