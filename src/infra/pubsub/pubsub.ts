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
  return {
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
