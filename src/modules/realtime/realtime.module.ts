import type { AppModule } from '../app-module.js';
import { LiveEventForwarder } from './live-event-forwarder.js';
import { LiveUpdateHub } from './live-update-hub.js';

/**
 * Live updates: every process forwards its committed events to Redis pub/sub; every API process
 * listens there and serves the WebSocket subscriptions.
 */
export const realtimeModule: AppModule = {
  name: 'realtime',
  onInit(app) {
    app.get(LiveEventForwarder).start();
    if (app.runsApi) app.get(LiveUpdateHub).start();
  },
};
