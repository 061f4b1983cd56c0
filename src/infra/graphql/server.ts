import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type Request } from 'express';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { graphqlUploadExpress } from 'graphql-upload-minimal';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { AppContext } from '../../app-context.js';
import { appModules } from '../../modules/index.js';
import { ApiKeyRole } from '../../modules/auth/api-key-role.js';
import { ApiKeyService } from '../../modules/auth/api-key.service.js';
import type { Caller } from '../../modules/auth/caller.js';
import { CONSOLE_BUILD_DIR, mountConsole } from '../http/console-route.js';
import { mountHealthRoutes } from '../http/health.js';
import { findProjectRoot } from '../local-services/from-environment.js';
import type { GraphQLContext } from './context.js';
import { createErrorFormatter } from './format-error.js';

export interface ApiServer {
  httpServer: Server;
  /** Starts listening; resolves with the bound port. */
  listen(port: number): Promise<number>;
  /** Stops accepting, finishes in-flight requests, closes WebSockets. */
  stop(): Promise<void>;
}

/** Reads "Bearer <key>" (the scheme is case-insensitive). */
export function bearerToken(header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined;
  const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** "http://host:port" of the request, when its Host header is a plain host name. */
function requestOrigin(req: Request): string | null {
  const host = req.get('host');
  return host && /^[A-Za-z0-9.:\[\]-]+$/.test(host) ? `${req.protocol}://${host}` : null;
}

const unauthenticated = () =>
  new GraphQLError('A valid API key is required: send "Authorization: Bearer <key>"', {
    extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
  });

/** Roles that may open a WebSocket (subscriptions are for dashboards). */
const WEBSOCKET_ROLES = new Set([ApiKeyRole.ADMIN, ApiKeyRole.VIEWER]);

/** The API process's HTTP server: GraphQL over HTTP and WebSocket on one port, health, metrics. */
export async function createApiServer(app: AppContext, schema: GraphQLSchema): Promise<ApiServer> {
  const keys = app.get(ApiKeyService);
  const expressApp = express();
  expressApp.disable('x-powered-by');
  const httpServer = createServer(expressApp);
  // A 1 GiB code file over a slow link takes longer than Node's default 300 s; headers stay bounded by headersTimeout.
  httpServer.requestTimeout = 60 * 60 * 1000;

  const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql' });
  // Errors over the WebSocket go through the same formatter as over HTTP (contract codes, no internals).
  const formatError = createErrorFormatter(app.logger);
  const formatErrors = (errors: readonly GraphQLError[], defaultCode?: string) =>
    errors.map((error) => {
      const formatted = error.toJSON();
      const code = formatted.extensions?.code ?? defaultCode;
      return formatError(code ? { ...formatted, extensions: { ...formatted.extensions, code } } : formatted, error);
    });
  const wsCleanup = useServer<Record<string, unknown>, { caller?: Caller }>(
    {
      schema,
      onNext: (_ctx, _id, _payload, _args, result) => (result.errors ? { ...result, errors: formatErrors(result.errors) } : undefined),
      onError: (_ctx, _id, _payload, errors) => formatErrors(errors, 'GRAPHQL_VALIDATION_FAILED'),
      context: (ctx): GraphQLContext => ({ app, caller: ctx.extra.caller ?? null, requestOrigin: null }),
      onConnect: async (ctx) => {
        const caller = await keys.authenticate(bearerToken(ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization));
        if (!caller) {
          ctx.extra.socket.close(4401, 'Unauthorized: send { "authorization": "Bearer <key>" } as connectionParams');
          return false;
        }
        if (!WEBSOCKET_ROLES.has(caller.role)) return false; // 4403 Forbidden
        (ctx.extra as { caller?: Caller }).caller = caller;
        return true;
      },
    },
    wsServer,
  );

  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    csrfPrevention: true,
    formatError: createErrorFormatter(app.logger),
    includeStacktraceInErrorResponses: false,
    // Shutdown is ordered by the process (src/app.ts), not by Apollo's own signal handlers.
    stopOnTerminationSignals: false,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      { async serverWillStart() { return { async drainServer() { await wsCleanup.dispose(); } }; } },
    ],
  });
  await apollo.start();

  expressApp.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = req.route?.path ?? (req.originalUrl.startsWith('/graphql') ? '/graphql' : 'other');
      app.metrics.httpRequests.inc({ route, method: req.method, status: String(res.statusCode) });
      app.metrics.httpDuration.observe({ route }, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  });

  const router = express.Router();
  mountHealthRoutes(router, app);
  for (const module of appModules) module.httpRoutes?.(router, app);
  expressApp.use(router);
  mountConsole(expressApp, join(findProjectRoot(__dirname), CONSOLE_BUILD_DIR), app.logger);

  expressApp.use(
    '/graphql',
    // The parser refuses a file that reaches maxFileSize; the upload service enforces the exact limit itself.
    graphqlUploadExpress({ maxFileSize: app.config.MAX_UPLOAD_BYTES + 1, maxFiles: 1 }),
    express.json({ limit: '2mb' }),
    expressMiddleware(apollo, {
      context: async ({ req }: { req: Request }): Promise<GraphQLContext> => {
        const caller = await keys.authenticate(bearerToken(req.headers.authorization));
        // No operation, introspection included, answers without a valid key.
        if (!caller) throw unauthenticated();
        return { app, caller, requestOrigin: requestOrigin(req) };
      },
    }),
  );

  return {
    httpServer,
    listen: (port) =>
      new Promise((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(port, () => resolve((httpServer.address() as AddressInfo).port));
      }),
    stop: async () => {
      await apollo.stop();
      wsServer.close();
    },
  };
}
