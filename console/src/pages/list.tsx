import { useEffect, useMemo, useState } from 'preact/hooks';
import { useQuery, useSubscription } from '../api/hooks';
import { Conversion } from '../components/conversion';
import { Count, Expiry, StatusBadge, StockBar } from '../components/stock';
import { ListQuery, StockUpdates, type ListDetail } from '../documents/lists';
import { formatCount } from '../format';
import { Link } from '../router';
import { canEdit } from '../session';
import { DeliveryPanel } from './delivery-panel';
import { DepletionTracker } from './depletion';
import { ExportPanel } from './export-panel';
import { ListForm } from './list-form';
import { UploadHistory } from './upload-history';
import { UploadPanel } from './upload-panel';

/** Read-only settings, for VIEWER keys. */
function Settings(props: { list: ListDetail }) {
  const { list } = props;
  return (
    <dl class="settings">
      {list.kind === 'FIXED' && (
        <>
          <dt>Fixed code</dt>
          <dd>
            <code>{list.fixedCode}</code>
          </dd>
          <dt>Fixed limit</dt>
          <dd>{formatCount(list.fixedLimit)}</dd>
        </>
      )}
      <dt>Warning limit</dt>
      <dd>{formatCount(list.warningLimit)}</dd>
      <dt>Alert e-mails</dt>
      <dd>{list.alertEmails.length ? list.alertEmails.join(', ') : 'None'}</dd>
      <dt>Expires</dt>
      <dd>
        <Expiry at={list.expiresAt} />
      </dd>
    </dl>
  );
}

export function ListPage(props: { id: string }) {
  const query = useQuery(ListQuery, { id: props.id });
  const loaded = query.data?.couponList;
  const tracker = useMemo(() => new DepletionTracker(), [props.id]);
  const [uploadsEnded, setUploadsEnded] = useState(0);
  const [, setTick] = useState(0);
  useEffect(() => {
    if (loaded) tracker.add(loaded);
  }, [loaded]);
  // The run-out estimate and "in 3 days" age as time passes.
  useEffect(() => {
    const timer = setInterval(() => setTick((n) => n + 1), 30_000);
    return () => clearInterval(timer);
  }, []);
  useSubscription(
    StockUpdates,
    { listIds: [props.id] },
    ({ couponListAvailability: stock }) => {
      tracker.add(stock);
      query.setData((previous) =>
        previous?.couponList
          ? { couponList: { ...previous.couponList, totalCodes: stock.totalCodes, assignedCodes: stock.assignedCodes, availableCodes: stock.availableCodes, status: stock.status } }
          : previous,
      );
    },
    !!loaded,
  );

  if (query.error) {
    return (
      <section>
        <h1 tabIndex={-1}>Coupon list</h1>
        <p class="error" role="alert">
          Could not load the list: {query.error}
        </p>
      </section>
    );
  }
  if (!query.data) return <p role="status">Loading the list…</p>;
  if (!loaded) {
    return (
      <section>
        <h1 tabIndex={-1}>List not found</h1>
        <p>
          There is no list with id {props.id}. <Link to="">Back</Link>.
        </p>
      </section>
    );
  }
  const list = loaded;
  return (
    <section class="list-page">
      <p class="crumbs">
        {/* Not "Lists": that name belongs to the navigation link alone. */}
        <Link to="">← Back</Link>
      </p>
      <div class="page-head title-with-status">
        <h1 tabIndex={-1}>{list.name}</h1>
        <StatusBadge status={list.status} />
      </div>
      <div class="figures" aria-label="Stock">
        <div>
          <span class="figure" aria-live="off">
            <Count value={list.availableCodes} />
          </span>{' '}
          available of <Count value={list.totalCodes} /> ({formatCount(list.assignedCodes)} handed out)
          <StockBar available={list.availableCodes} total={list.totalCodes} warningLimit={list.warningLimit} label={`${formatCount(list.availableCodes)} of ${formatCount(list.totalCodes)} available`} />
        </div>
        <p class="depletion">{tracker.describe(list.availableCodes)}</p>
        <Conversion redeemed={list.redeemedCodes} assigned={list.assignedCodes} />
        <p>
          {list.kind === 'FIXED' ? 'Fixed code' : 'Unique codes'} · expires <Expiry at={list.expiresAt} />
        </p>
      </div>

      {list.kind === 'UNIQUE' && canEdit.value && (
        <section aria-labelledby="upload-heading">
          <h2 id="upload-heading">Codes</h2>
          <UploadPanel list={list} onFinished={() => setUploadsEnded((n) => n + 1)} />
        </section>
      )}

      <section aria-labelledby="settings-heading">
        <h2 id="settings-heading">Settings</h2>
        {canEdit.value ? <ListForm key={list.id} list={list} onSaved={(saved) => query.setData(() => ({ couponList: saved }))} /> : <Settings list={list} />}
      </section>

      <section aria-labelledby="usage-heading">
        <h2 id="usage-heading">Usage export</h2>
        <ExportPanel listId={list.id} />
      </section>

      <section aria-labelledby="delivery-heading">
        <h2 id="delivery-heading">Delivery</h2>
        <DeliveryPanel listId={list.id} />
      </section>

      {list.kind === 'UNIQUE' && (
        <section aria-labelledby="history-heading">
          <h2 id="history-heading">Upload history</h2>
          <UploadHistory listId={list.id} version={uploadsEnded} />
        </section>
      )}
    </section>
  );
}
