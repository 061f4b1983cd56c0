import type { AppModule } from '../app-module.js';
import { ApiKey } from './api-key.entity.js';
import { ApiKeyService, DEV_ADMIN_KEY } from './api-key.service.js';

export const authModule: AppModule = {
  name: 'auth',
  entities: [ApiKey],
  async onInit(app) {
    const keys = app.get(ApiKeyService);
    if (app.runsApi) await keys.listenForRevocations();
    if (keys.usesDevelopmentKey()) {
      app.logger.warn(
        { host: app.config.HOST },
        `ADMIN_API_KEY is not set: the development admin key "${DEV_ADMIN_KEY}" is accepted (never in production), so the API listens on ${app.config.HOST} only`,
      );
    }
  },
};
