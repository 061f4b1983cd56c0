import type { AppModule } from '../app-module.js';

export const historyModule: AppModule = {
  name: 'history',
};
