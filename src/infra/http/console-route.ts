import express, { type Express, type Request, type Response } from 'express';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../logging/logger.js';

/** Where `npm run build` puts the console (Vite's outDir in console/vite.config.mjs). */
export const CONSOLE_BUILD_DIR = join('dist', 'console');

/** "host[:port]" of the request when it is a plain host name (it goes into a header). */
const plainHost = (req: Request) => {
  const host = req.get('host');
  return host && /^[A-Za-z0-9.:[\]-]+$/.test(host) ? host : null;
};

/** Only this origin: scripts, styles and fetches to 'self', WebSockets to this host. */
function contentSecurityPolicy(req: Request): string {
  const host = plainHost(req);
  const sockets = host ? ` ws://${host} wss://${host}` : '';
  return [
    "default-src 'self'",
    `connect-src 'self'${sockets}`,
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function securityHeaders(req: Request, res: Response): void {
  res.set('Content-Security-Policy', contentSecurityPolicy(req));
  res.set('X-Content-Type-Options', 'nosniff');
  res.set('Referrer-Policy', 'no-referrer');
}

const notBuiltPage = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Console not built</title>
<h1>The admin console has not been built</h1><p>Run <code>npm run build</code> (or <code>npm start</code>, which builds first) and reload.</p></html>`;

/**
 * Serves the built admin console at /console/ (GET / redirects there): fingerprinted assets
 * cached as immutable, index.html never cached so a new build is picked up at once, and every
 * client route of the single-page app answered with index.html.
 */
export function mountConsole(app: Express, buildDir: string, logger: Logger): void {
  const indexFile = join(buildDir, 'index.html');
  if (!existsSync(indexFile)) {
    logger.warn({ buildDir }, `admin console not built (${indexFile} is missing): /console/ answers 503 until \`npm run build\` has run`);
  }

  app.get('/', (_req, res) => res.redirect(302, '/console/'));
  app.use('/console', (req, res, next) => {
    securityHeaders(req, res);
    next();
  });
  app.use(
    '/console/assets',
    express.static(join(buildDir, 'assets'), { immutable: true, maxAge: '1y', index: false }),
    // An asset of another build: a plain 404, never the app (and never an error page).
    (_req: Request, res: Response) => res.status(404).set('Cache-Control', 'no-store').type('text').send('Not found'),
  );
  app.get('/console{/*splat}', async (req, res) => {
    if (req.path === '/console') return res.redirect(301, '/console/');
    let html: string;
    try {
      html = await readFile(indexFile, 'utf8');
    } catch {
      return res.status(503).set('Cache-Control', 'no-store').type('html').send(notBuiltPage);
    }
    res.set('Cache-Control', 'no-cache').type('html').send(html);
  });
}
