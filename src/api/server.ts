import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type NextFunction, type Request, type Response } from 'express';
import { GraphQLError, parse, specifiedRules, validate, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { graphqlUploadExpress } from 'graphql-upload-minimal';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AppContext } from '../app-context.js';
import { trustProxySetting } from '../config/config.js';
import { apiModules } from '../modules/api-index.js';
import { ApiKeyRole } from '../modules/auth/api-key-role.js';
import { ApiKeyService } from '../modules/auth/api-key.service.js';
import type { Caller } from '../modules/auth/caller.js';
import { addAcceptHandles } from '../infra/http/accept-handles.js';
import { BurstAccepting } from '../infra/http/burst-accepting.js';
import { ConnectionCap } from '../infra/http/connection-cap.js';
import { CONSOLE_BUILD_DIR, mountConsole } from '../infra/http/console-route.js';
import { BODY_NOT_JSON, BODY_TOO_LARGE, bodyDeadline, graphqlPostHandler, isPlainGraphQLPost, sendError } from '../infra/http/graphql-post.js';
import { mountHealthRoutes } from '../infra/http/health.js';
import { findProjectRoot } from '../infra/project-root.js';
import type { GraphQLContext } from '../modules/graphql-context.js';
import { createErrorFormatter } from '../infra/graphql/format-error.js';
import { costError, documentCost, documentLimits, limitRules, webSocketRules, type DocumentLimits } from '../infra/graphql/limits.js';

/** Connections the kernel may queue for accepting (capped by net.core.somaxconn). */
const LISTEN_BACKLOG = 4096;

/** How long a stopping server lets in-flight requests finish before it closes their connections. */
const DRAIN_GRACE_MS = 10_000;

export interface ApiServer {
  httpServer: Server;
  /** Starts listening on HOST; resolves with the bound port. */
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

/** The JSON body a GraphQL request may have (express.json's limit on the express path). */
const MAX_JSON_BODY_BYTES = 2 * 1024 * 1024;

/** "https://host:port" of the request (X-Forwarded-* only from a TRUST_PROXY proxy), when the host is a plain host name. */
function requestOrigin(req: Request): string | null {
  const host = req.host;
  return host && /^[A-Za-z0-9.:\[\]-]+$/.test(host) ? `${req.protocol}://${host}` : null;
}

const UNAUTHENTICATED_MESSAGE = 'A valid API key is required: send "Authorization: Bearer <key>"';

/** Roles that may open a WebSocket (subscriptions are for dashboards). */
const WEBSOCKET_ROLES = new Set([ApiKeyRole.ADMIN, ApiKeyRole.VIEWER]);

/** WebSocket close codes besides graphql-ws's own. */
const CLOSE_FORBIDDEN = 4403;
const CLOSE_TOO_MANY = 4429;
const REVOCATION_SWEEP_MS = 4000;

type SocketExtra = { caller?: Caller; secret?: string };

/** The API process's HTTP server: GraphQL over HTTP and WebSocket on one port, health, metrics. */
export async function createApiServer(app: AppContext, schema: GraphQLSchema): Promise<ApiServer> {
  const { config } = app;
  const keys = app.get(ApiKeyService);
  const limits = documentLimits(config);
  const expressApp = express();
  expressApp.disable('x-powered-by');
  // GraphQL answers are never cached by validators; an ETag would be a hash of every body.
  expressApp.set('etag', false);
  expressApp.set('trust proxy', trustProxySetting(config.TRUST_PROXY));
  const httpServer = createServer(
    {
      // Slow or oversized headers are cut off; the key is checked as soon as they are in.
      headersTimeout: config.HTTP_HEADERS_TIMEOUT_MS,
      maxHeaderSize: 16 * 1024,
      keepAliveTimeout: config.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      // The hard cap is the upload's: a 1 GiB code file over a slow link takes long. Every other
      // request gets HTTP_REQUEST_TIMEOUT_MS for its body (bodyDeadline).
      requestTimeout: Math.max(config.UPLOAD_TIMEOUT_SECONDS * 1000, config.HTTP_HEADERS_TIMEOUT_MS + 1),
      connectionsCheckingInterval: 1000,
    },
    (req, res) => {
      if (graphqlPost && isPlainGraphQLPost(req)) graphqlPost(req, res);
      else expressApp(req, res);
    },
  );
  let graphqlPost: ReturnType<typeof graphqlPostHandler> | null = null;
  const connections = new ConnectionCap(httpServer, config.MAX_CONNECTIONS);
  let acceptors: NetServer[] = [];
  let burst: BurstAccepting | null = null;

  const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql', maxPayload: config.WS_MAX_PAYLOAD_BYTES });
  const socketsByKey = new Map<string, Set<WebSocket>>();
  const stopListening = keys.onRevoked((keyId) => {
    for (const socket of socketsByKey.get(keyId) ?? []) socket.close(CLOSE_FORBIDDEN, 'Forbidden: the API key was revoked');
  });
  // Revocations arrive by pub/sub at once; should a message be lost (Redis restarting), this
  // sweep still ends the key's sockets within REVOCATION_SWEEP_MS.
  const revocationSweep = setInterval(() => {
    if (socketsByKey.size === 0) return;
    keys.revokedAmong([...socketsByKey.keys()]).then(
      (revoked) => revoked.forEach((keyId) => keys.noticeRevoked(keyId)),
      (error: unknown) => app.logger.warn({ err: error }, 'revoked key sweep failed'),
    );
  }, REVOCATION_SWEEP_MS).unref();

  // Errors over the WebSocket go through the same formatter as over HTTP (contract codes, no internals).
  const formatError = createErrorFormatter(app.logger);
  const formatErrors = (errors: readonly GraphQLError[], defaultCode?: string) =>
    errors.map((error) => {
      const formatted = error.toJSON();
      const code = formatted.extensions?.code ?? defaultCode;
      return formatError(code ? { ...formatted, extensions: { ...formatted.extensions, code } } : formatted, error);
    });
  const wsRules = [...specifiedRules, ...webSocketRules(limits)];
  const wsCleanup = useServer<Record<string, unknown>, SocketExtra>(
    {
      schema,
      connectionInitWaitTimeout: config.WS_CONNECTION_INIT_TIMEOUT_MS,
      parse: (source) => parse(source, { maxTokens: limits.maxTokens }),
      validate: (validationSchema, document) => validate(validationSchema, document, wsRules),
      onNext: (_ctx, _id, _payload, _args, result) => (result.errors ? { ...result, errors: formatErrors(result.errors) } : undefined),
      onError: (_ctx, _id, _payload, errors) => formatErrors(errors, 'GRAPHQL_VALIDATION_FAILED'),
      context: (ctx): GraphQLContext => ({ app, caller: ctx.extra.caller ?? null, requestOrigin: () => null }),
      onConnect: async (ctx) => {
        const secret = bearerToken(ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization);
        const caller = await keys.authenticate(secret);
        const socket = ctx.extra.socket;
        if (!caller) {
          socket.close(4401, 'Unauthorized: send { "authorization": "Bearer <key>" } as connectionParams');
          return false;
        }
        if (!WEBSOCKET_ROLES.has(caller.role)) return false; // 4403 Forbidden
        // Gone while the key was looked up: nothing to count.
        if (socket.readyState !== socket.OPEN) return false;
        let sockets = socketsByKey.get(caller.keyId);
        if (!sockets) socketsByKey.set(caller.keyId, (sockets = new Set()));
        if (sockets.size >= config.WS_MAX_SOCKETS_PER_KEY) {
          socket.close(CLOSE_TOO_MANY, `Too many WebSockets for this API key (WS_MAX_SOCKETS_PER_KEY=${config.WS_MAX_SOCKETS_PER_KEY})`);
          return false;
        }
        sockets.add(socket);
        socket.once('close', () => {
          sockets.delete(socket);
          if (sockets.size === 0 && socketsByKey.get(caller.keyId) === sockets) socketsByKey.delete(caller.keyId);
        });
        ctx.extra.caller = caller;
        ctx.extra.secret = secret;
        return true;
      },
      onSubscribe: async (ctx, _id, payload) => {
        // Counted before the first await: operations sent together each see the ones before them.
        if (Object.keys(ctx.subscriptions).length > config.WS_MAX_SUBSCRIPTIONS_PER_SOCKET) {
          return [
            new GraphQLError(`At most ${config.WS_MAX_SUBSCRIPTIONS_PER_SOCKET} operations may run on one WebSocket (WS_MAX_SUBSCRIPTIONS_PER_SOCKET)`, {
              extensions: { code: 'RATE_LIMITED' },
            }),
          ];
        }
        // Every operation checks the key again, in the database: a key revoked on any process (or
        // one whose role changed) gets no answer, even before the revocation message arrives here.
        const caller = await keys.authenticateUncached(ctx.extra.secret);
        if (!caller || !WEBSOCKET_ROLES.has(caller.role)) {
          ctx.extra.socket.close(CLOSE_FORBIDDEN, 'Forbidden: the API key is no longer valid');
          return [new GraphQLError('This API key is no longer valid', { extensions: { code: 'UNAUTHENTICATED' } })];
        }
        ctx.extra.caller = caller;
        return webSocketCostErrors(schema, limits, payload);
      },
    },
    wsServer,
  );

  const costPlugin: ApolloServerPlugin<GraphQLContext> = {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document, operationName }) {
          const error = costError(documentCost(schema, document, request.variables, operationName), limits);
          if (error) throw error;
        },
      };
    },
  };

  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    csrfPrevention: true,
    introspection: limits.introspection,
    validationRules: limitRules(limits),
    parseOptions: { maxTokens: limits.maxTokens },
    hideSchemaDetailsFromClientErrors: true,
    formatError: createErrorFormatter(app.logger),
    includeStacktraceInErrorResponses: false,
    // Shutdown is ordered by the process (src/app.ts), not by Apollo's own signal handlers.
    stopOnTerminationSignals: false,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: DRAIN_GRACE_MS }),
      // No cache hints are used; the default plugin would wrap every field of every answer.
      ApolloServerPluginCacheControlDisabled(),
      costPlugin,
      ...apiModules.flatMap((module) => module.apolloPlugins?.(app) ?? []),
      { async serverWillStart() { return { async drainServer() { await wsCleanup.dispose(); } }; } },
    ],
  });
  await apollo.start();

  /** An express view of a request, for the rare reads that need express's proxy rules. */
  const asExpressRequest = (req: IncomingMessage): Request => {
    Object.setPrototypeOf(req, expressApp.request);
    (req as unknown as { app: typeof expressApp }).app = expressApp;
    return req as Request;
  };
  /** The caller of a request, from its Authorization header alone. */
  const callerOf = (req: IncomingMessage) => keys.authenticate(bearerToken(req.headers.authorization));
  const recordRequest = (route: string, method: string, status: number, seconds: number) => {
    app.metrics.httpRequests.inc({ route, method, status: String(status) });
    app.metrics.httpDuration.observe({ route }, seconds);
  };
  graphqlPost = graphqlPostHandler<GraphQLContext, Caller>({
    apollo,
    maxBodyBytes: MAX_JSON_BODY_BYTES,
    bodyTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS,
    admit: async (req) => {
      const caller = await callerOf(req);
      // No operation, introspection included, answers without a valid key.
      return caller ? { admitted: caller } : { refused: { status: 401, code: 'UNAUTHENTICATED', message: UNAUTHENTICATED_MESSAGE } };
    },
    context: (req, caller) => {
      let origin: string | null | undefined;
      return { app, caller, requestOrigin: () => (origin ??= requestOrigin(asExpressRequest(req))) };
    },
    answered: (status, seconds) => recordRequest('/graphql', 'POST', status, seconds),
    failed: (error) => app.logger.error({ err: error }, 'GraphQL request failed'),
  });

  expressApp.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = req.route?.path ?? (req.originalUrl.startsWith('/graphql') ? '/graphql' : 'other');
      recordRequest(route, req.method, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  });

  const router = express.Router();
  mountHealthRoutes(router, app);
  for (const module of apiModules) module.httpRoutes?.(router, app);
  expressApp.use(router);
  mountConsole(expressApp, join(findProjectRoot(__dirname), CONSOLE_BUILD_DIR), app.logger);

  /** The key, before any of the body is read; multipart (uploads) only for keys that may upload. */
  const authenticateFirst = async (req: Request, res: Response, next: NextFunction) => {
    const caller = await callerOf(req);
    // No operation, introspection included, answers without a valid key.
    if (!caller) return sendError(res, 401, 'UNAUTHENTICATED', UNAUTHENTICATED_MESSAGE, true);
    const upload = typeof req.is('multipart/form-data') === 'string';
    if (upload && caller.role !== ApiKeyRole.ADMIN) return sendError(res, 403, 'FORBIDDEN', `Uploads need a key with role ADMIN; this key has role ${caller.role}`, true);
    if (!upload) bodyDeadline(req, config.HTTP_REQUEST_TIMEOUT_MS);
    res.locals.caller = caller;
    next();
  };

  expressApp.use(
    '/graphql',
    authenticateFirst,
    // The parser refuses a file that reaches maxFileSize; the upload service enforces the exact limit itself.
    graphqlUploadExpress({ maxFileSize: config.MAX_UPLOAD_BYTES + 1, maxFiles: 1 }),
    express.json({ limit: MAX_JSON_BODY_BYTES }),
    expressMiddleware(apollo, {
      context: async ({ req, res }: { req: Request; res: Response }): Promise<GraphQLContext> => ({
        app,
        caller: res.locals.caller as Caller,
        requestOrigin: () => requestOrigin(req),
      }),
    }),
  );

  // A body the parsers refuse (bad JSON, too large) gets a JSON answer in words; never express's
  // default HTML page, which carries the stack trace outside production.
  expressApp.use((error: { type?: string; status?: number }, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    if (error.type === 'entity.parse.failed') return sendError(res, 400, 'BAD_REQUEST', BODY_NOT_JSON, true);
    if (error.type === 'entity.too.large') return sendError(res, 413, 'BAD_REQUEST', BODY_TOO_LARGE, true);
    app.logger.error({ err: error }, 'request failed before GraphQL');
    return sendError(res, error.status && error.status >= 400 && error.status < 500 ? error.status : 500, 'BAD_REQUEST', 'The request could not be read', true);
  });

  return {
    httpServer,
    listen: async (port) => {
      const bound = await new Promise<number>((resolve, reject) => {
        httpServer.once('error', reject);
        // A flash sale opens thousands of connections at once: with Node's default backlog (511)
        // the kernel drops handshakes beyond it and those clients wait seconds for a retry.
        httpServer.listen({ port, host: config.HOST, backlog: LISTEN_BACKLOG }, () => resolve((httpServer.address() as AddressInfo).port));
      });
      // ... and a busy process accepts them one per event-loop turn and handle: more handles accept faster.
      acceptors = await addAcceptHandles(httpServer, config.ACCEPT_HANDLES, LISTEN_BACKLOG, (socket) => httpServer.emit('connection', socket)).catch((error: unknown) => {
        app.logger.warn({ err: error }, 'no further listening handles: connections are accepted one per event-loop turn');
        return [];
      });
      // They accept only during a burst: listening, each costs every new connection a wasted accept.
      burst = new BurstAccepting(httpServer, acceptors);
      return bound;
    },
    stop: async () => {
      stopListening();
      clearInterval(revocationSweep);
      burst?.stop();
      for (const acceptor of acceptors) acceptor.close();
      await apollo.stop();
      // Apollo's drain waits for the connections of the server's own handle only.
      await connections.drained(DRAIN_GRACE_MS);
      wsServer.close();
    },
  };
}


/** The cost limit over WebSocket (the variables are in the message, so it is checked here). */
function webSocketCostErrors(schema: GraphQLSchema, limits: DocumentLimits, payload: { query: string; variables?: Record<string, unknown> | null; operationName?: string | null }) {
  let document;
  try {
    document = parse(payload.query, { maxTokens: limits.maxTokens });
  } catch (error) {
    return [error instanceof GraphQLError ? error : new GraphQLError('The document could not be parsed')];
  }
  const error = costError(documentCost(schema, document, payload.variables ?? undefined, payload.operationName), limits);
  return error ? [error] : undefined;
}
