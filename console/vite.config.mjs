// Builds the admin console into dist/console, served by the API process at /console/.
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

export default {
  root: here,
  base: '/console/',
  logLevel: 'warn',
  publicDir: false,
  // Preact's automatic JSX runtime, compiled by Vite's own oxc (no Babel plugin needed).
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    // Never inline assets as data: URLs; everything is a fingerprinted file under /console/assets/.
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
};
