import { AsyncLocalStorage } from 'node:async_hooks';
import type { Router } from 'express';

/**
 * The scheme and host a GraphQL request was sent to ("http://api.example:4000"), for making
 * absolute download links when PUBLIC_URL is not set. Carried with the request's async context:
 * resolvers only receive { app, caller }.
 */
const origin = new AsyncLocalStorage<string>();

export function currentRequestOrigin(): string | undefined {
  return origin.getStore();
}

/** Remembers the origin of each request to /graphql for the rest of its handling. */
export function trackRequestOrigin(router: Router): void {
  router.use('/graphql', (req, _res, next) => {
    const host = req.get('host');
    if (!host || !/^[A-Za-z0-9.:\[\]-]+$/.test(host)) return next();
    origin.run(`${req.protocol}://${host}`, next);
  });
}
