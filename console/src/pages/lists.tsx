import { signal, type Signal } from '@preact/signals';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { useQuery, useSubscription } from '../api/hooks';
import { Dialog } from '../components/dialog';
import { Count, Expiry, StatusBadge, StockBar } from '../components/stock';
import { Table } from '../components/table';
import { ListsPageQuery, StockUpdates, type ListRow, type ListStatus, type Stock } from '../documents/lists';
import { formatCount } from '../format';
import { Link } from '../router';
import { canEdit } from '../session';
import { ListForm } from './list-form';

const PAGE_SIZE = 50;

/** One row; it reads its own live figures, so an update re-renders only that row. */
function ListRowView(props: { list: ListRow; stock: Signal<Stock | null> }) {
  const { list } = props;
  const live = props.stock.value;
  const available = live?.availableCodes ?? list.availableCodes;
  const total = live?.totalCodes ?? list.totalCodes;
  return (
    <tr>
      <th scope="row">
        <Link to={`lists/${list.id}`}>{list.name}</Link>
        <small class="kind">{list.kind === 'FIXED' ? 'Fixed code' : 'Unique codes'}</small>
      </th>
      <td class="num" data-label="Available">
        <Count value={available} />
      </td>
      <td data-label="Stock">
        <StockBar available={available} total={total} warningLimit={list.warningLimit} label={`${list.name}: ${formatCount(available)} of ${formatCount(total)} available`} />
      </td>
      <td class="num" data-label="Total">
        <Count value={total} />
      </td>
      <td data-label="Expires">
        <Expiry at={list.expiresAt} />
      </td>
      <td data-label="Status">
        <StatusBadge status={live?.status ?? list.status} />
      </td>
      <td class="num" data-label="Warning limit">
        <Count value={list.warningLimit} />
      </td>
    </tr>
  );
}

export function ListsPage() {
  const [searchText, setSearchText] = useState('');
  const [search, setSearch] = useState('');
  const [status, setStatus] = useState<ListStatus | ''>('');
  // Cursors of the pages before this one; the current page starts after the last.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<ListRow | null>(null);
  useEffect(() => {
    const timer = setTimeout(() => {
      setSearch(searchText.trim());
      setCursors([null]);
    }, 250);
    return () => clearTimeout(timer);
  }, [searchText]);

  const after = cursors[cursors.length - 1] ?? null;
  const query = useQuery(ListsPageQuery, { first: PAGE_SIZE, after, status: status || null, search: search || null });
  const page = query.data?.couponLists;
  const ids = useMemo(() => page?.items.map((item) => item.id) ?? [], [page]);
  const stocks = useMemo(() => new Map(ids.map((id) => [id, signal<Stock | null>(null)])), [ids]);
  useSubscription(StockUpdates, { listIds: ids }, ({ couponListAvailability: update }) => {
    const stock = stocks.get(update.listId);
    if (stock) stock.value = update;
  }, ids.length > 0);

  const first = (cursors.length - 1) * PAGE_SIZE + 1;
  return (
    <section>
      <div class="page-head">
        <h1 tabIndex={-1}>Coupon lists</h1>
        {canEdit.value && (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            New list
          </button>
        )}
      </div>
      <div class="filters">
        <form role="search" onSubmit={(event) => event.preventDefault()}>
          <label for="list-search">Search lists</label>
          <input id="list-search" type="search" placeholder="Part of a name" value={searchText} onInput={(event) => setSearchText(event.currentTarget.value)} />
        </form>
        <div class="field inline">
          <label for="list-status">Status</label>
          <select
            id="list-status"
            value={status}
            onChange={(event) => {
              setStatus(event.currentTarget.value as ListStatus | '');
              setCursors([null]);
            }}
          >
            <option value="">All</option>
            <option value="ACTIVE">Active</option>
            <option value="EXHAUSTED">Exhausted</option>
            <option value="EXPIRED">Expired</option>
          </select>
        </div>
      </div>
      {created && (
        <p role="status" class="notice">
          Created the list “{created.name}”.
        </p>
      )}
      {query.error && (
        <p class="error" role="alert">
          Could not load the lists: {query.error}
        </p>
      )}
      {!page && query.loading && <p role="status">Loading lists…</p>}
      {page && (
        <>
          <Table
            class="lists"
            caption="Coupon lists with their live stock"
            busy={query.loading}
            columns={['Name', { label: 'Available', num: true }, { label: 'Stock bar', hidden: true }, { label: 'Total', num: true }, 'Expires', 'Status', { label: 'Warning limit', num: true }]}
          >
            {page.items.map((list) => (
              <ListRowView key={list.id} list={list} stock={stocks.get(list.id)!} />
            ))}
          </Table>
          {page.items.length === 0 && <p>{search || status ? 'No lists match these filters.' : 'No lists yet.'}</p>}
          <div class="pager">
            <span role="status">
              {page.totalCount === 0 ? '' : `Lists ${formatCount(first)}–${formatCount(first + page.items.length - 1)} of ${formatCount(page.totalCount)}`}
            </span>
            <button type="button" disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
              Previous page
            </button>
            <button type="button" disabled={!page.nextCursor} onClick={() => setCursors([...cursors, page.nextCursor])}>
              Next page
            </button>
          </div>
        </>
      )}
      <Dialog title="New list" open={creating} onClose={() => setCreating(false)}>
        <ListForm
          onCancel={() => setCreating(false)}
          onSaved={(list) => {
            setCreating(false);
            setCreated(list);
            setSearchText('');
            setStatus('');
            setCursors([null]);
            query.reload();
          }}
        />
      </Dialog>
    </section>
  );
}
