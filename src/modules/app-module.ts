import type { ApolloServerPlugin } from '@apollo/server';
import type { Router } from 'express';
import type { AppContext } from '../app-context.js';
import type { GraphQLContext } from './graphql-context.js';

/**
 * What a domain folder contributes to every process (`<name>.module.ts`). src/modules/index.ts
 * lists the modules; nothing else needs to know a module's insides.
 */
export interface AppModule {
  name: string;
  /** TypeORM entities. */
  entities?: Function[];
  /** Runs in every process after the database is ready: subscribe to domain events, etc. */
  onInit?(app: AppContext): void | Promise<void>;
  /** Runs only where ROLE is worker or all: start BullMQ workers, sweeps. */
  startWorkers?(app: AppContext): void | Promise<void>;
}

/**
 * What a domain folder adds to an API process only (`<name>.api.ts`), listed in
 * src/modules/api-index.ts. Kept apart from AppModule so that a worker process never loads
 * resolvers, the schema or the HTTP stack.
 */
export interface ApiModule {
  name: string;
  /** type-graphql resolver classes (constructed with the AppContext). */
  resolvers: Function[];
  /** HTTP routes besides /graphql, mounted on the API's express app. */
  httpRoutes?(router: Router, app: AppContext): void;
  /** Apollo Server plugins (hooks into every GraphQL request over HTTP). */
  apolloPlugins?(app: AppContext): ApolloServerPlugin<GraphQLContext>[];
}
