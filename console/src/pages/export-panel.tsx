import { useEffect, useState } from 'preact/hooks';
import { describeError, request } from '../api/graphql';
import { useAction } from '../api/hooks';
import { ExportQuery, StartExport, type UsageExport } from '../documents/exports';
import { formatCount } from '../format';

const STATUS_WORDS: Record<UsageExport['status'], string> = {
  QUEUED: 'Export queued…',
  PROCESSING: 'Writing the CSV…',
  COMPLETED: 'The export is ready',
  FAILED: 'The export failed',
};

/** `Export usage`: starts the CSV export, follows it, then offers `Download CSV`. */
export function ExportPanel(props: { listId: string }) {
  const [current, setCurrent] = useState<UsageExport | null>(null);
  const [pollError, setPollError] = useState<string | null>(null);
  const start = useAction(async () => setCurrent((await request(StartExport, { listId: props.listId })).exportCouponUsage));
  const pending = current && (current.status === 'QUEUED' || current.status === 'PROCESSING');

  useEffect(() => {
    if (!current || !pending) return;
    const timer = setTimeout(() => {
      request(ExportQuery, { id: current.id }).then(
        (data) => {
          setPollError(null);
          if (data.couponUsageExport) setCurrent(data.couponUsageExport);
        },
        (error: unknown) => {
          setPollError(describeError(error));
          setCurrent({ ...current });
        },
      );
    }, 700);
    return () => clearTimeout(timer);
  }, [current]);

  return (
    <div class="export-panel">
      <button type="button" onClick={() => void start.run()} disabled={start.busy || !!pending}>
        {start.busy ? 'Starting the export…' : 'Export usage'}
      </button>
      {start.error != null && (
        <p class="error" role="alert">
          {describeError(start.error)}
        </p>
      )}
      {current && (
        <p role="status">
          {STATUS_WORDS[current.status]}
          {current.status === 'COMPLETED' && `: ${formatCount(current.rowCount)} rows. `}
          {current.status === 'FAILED' && `: ${current.failureReason ?? 'no reason given'}`}
          {pollError && ` (checking again: ${pollError})`}
        </p>
      )}
      {current?.status === 'COMPLETED' && current.downloadUrl && (
        <a class="button" href={current.downloadUrl} download>
          Download CSV
        </a>
      )}
    </div>
  );
}
