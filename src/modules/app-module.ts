import type { Router } from 'express';
import type { AppContext } from '../app-context.js';

/**
 * What a domain folder contributes to the process. src/modules/index.ts lists the modules;
 * nothing else needs to know a module's insides.
 */
export interface AppModule {
  name: string;
  /** TypeORM entities. */
  entities?: Function[];
  /** type-graphql resolver classes (constructed with the AppContext). */
  resolvers?: Function[];
  /** Runs in every process after the database is ready: subscribe to domain events, etc. */
  onInit?(app: AppContext): void | Promise<void>;
  /** Runs only where ROLE is worker or all: start BullMQ workers, sweeps. */
  startWorkers?(app: AppContext): void | Promise<void>;
  /** HTTP routes besides /graphql, mounted on the API's express app. */
  httpRoutes?(router: Router, app: AppContext): void;
}
