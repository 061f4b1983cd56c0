import type { ApiModule } from '../app-module.js';
import { CodeUploadResolver } from './code-upload.resolver.js';

/** What the uploads module adds to an API process. */
export const uploadsApi: ApiModule = {
  name: 'uploads',
  resolvers: [CodeUploadResolver],
};
