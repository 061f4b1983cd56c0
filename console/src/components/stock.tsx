import { formatCount, formatDate, fromNow, enumWords } from '../format';

/** Available of total as a bar; the figures are in the cells beside it. */
export function StockBar(props: { available: number; total: number; warningLimit?: number | null; label: string }) {
  // At or below the warning limit the bar shows as low.
  const low = props.warningLimit != null ? props.warningLimit + 0.5 : undefined;
  return <meter class="stock" min={0} max={Math.max(props.total, 1)} low={low} optimum={props.total} value={props.available} aria-label={props.label} />;
}

export function StatusBadge(props: { status: string }) {
  return <span class={`badge badge-${props.status.toLowerCase()}`}>{enumWords(props.status)}</span>;
}

/** "30 Nov 2026, 23:59 (in 3 days)". */
export function Expiry(props: { at: string | null }) {
  if (!props.at) return <span>Never</span>;
  return (
    <span>
      <time dateTime={props.at}>{formatDate(props.at)}</time> <span class="muted">({fromNow(props.at)})</span>
    </span>
  );
}

export const Count = (props: { value: number | null | undefined }) => <span class="num">{formatCount(props.value)}</span>;
