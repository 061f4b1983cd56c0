import type { AppModule } from '../app-module.js';
import { ApiKey } from './api-key.entity.js';
import { ApiKeyService } from './api-key.service.js';

export const authModule: AppModule = {
  name: 'auth',
  entities: [ApiKey],
  async onInit(app) {
    const keys = app.get(ApiKeyService);
    if (app.runsApi) await keys.listenForRevocations();
    if (keys.usesDevelopmentKey()) {
      app.logger.warn('ADMIN_API_KEY is not set: the development admin key "dev-admin-key-change-me" is accepted (never in production)');
    }
  },
};
