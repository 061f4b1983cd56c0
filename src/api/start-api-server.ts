import type { AppContext } from '../app-context.js';
import { buildAppSchema } from './schema.js';
import { createApiServer, type ApiServer } from './server.js';

/**
 * The API half of a process: the GraphQL schema, Apollo, express and the WebSocket server. src/app.ts
 * loads this file only where ROLE is api or all, so a worker process never loads any of it.
 */
export async function startApiServer(app: AppContext): Promise<{ server: ApiServer; port: number }> {
  // Resolvers are built like services: once, with the context, taking their services in their constructors.
  const server = await createApiServer(app, await buildAppSchema(app.pubSub, { get: (resolverClass) => app.get(resolverClass as new (context: AppContext) => unknown) }));
  const port = await server.listen(app.config.PORT);
  return { server, port };
}
