import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Router } from 'express';
import type { AppContext } from '../../app-context.js';
import { CouponUsageExportService } from './coupon-usage-export.service.js';

/**
 * GET /exports/:id/download: the CSV of a COMPLETED export, streamed, to a request with an
 * ADMIN or VIEWER key or a valid signed link (the export's downloadUrl). Refusals carry a short
 * JSON body and never any byte of the file.
 */
export function mountDownloadRoute(router: Router, app: AppContext): void {
  router.get('/exports/:id/download', async (req, res) => {
    try {
      const outcome = await app.get(CouponUsageExportService).openDownload(String(req.params.id), {
        authorization: req.headers.authorization,
        expires: req.query.expires,
        signature: req.query.signature,
      });
      if (!outcome.ok) {
        if (outcome.status === 401) res.set('WWW-Authenticate', 'Bearer');
        res.status(outcome.status).set('Cache-Control', 'no-store').json({ error: outcome.message });
        return;
      }
      res.status(200).set({
        'Content-Type': 'text/csv; charset=utf-8',
        'Content-Disposition': `attachment; filename="${outcome.fileName}"`,
        'Content-Length': String(outcome.file.bytes),
        'Cache-Control': 'private, no-store',
        'X-Content-Type-Options': 'nosniff',
      });
      await pipeline(outcome.file.stream, res).catch((error: unknown) => {
        // The client went away mid-download; nothing to answer.
        app.logger.debug({ err: error, exportId: req.params.id }, 'export download interrupted');
      });
    } catch (error) {
      const errorId = randomUUID();
      app.logger.error({ err: error, errorId, exportId: req.params.id }, 'export download failed');
      if (!res.headersSent) res.status(500).json({ error: `Internal server error (error id ${errorId})` });
      else res.destroy();
    }
  });
}
