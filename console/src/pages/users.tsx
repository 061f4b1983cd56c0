import { useState } from 'preact/hooks';
import { describeError, request } from '../api/graphql';
import { submitWith } from '../components/form';
import { useAction } from '../api/hooks';
import { Table } from '../components/table';
import { NAMES_PER_REQUEST, namesQuery, UserCouponsQuery, type UserCoupon } from '../documents/users';
import { enumWords, formatDate } from '../format';
import { Link } from '../router';

function Deliveries(props: { coupon: UserCoupon }) {
  if (props.coupon.deliveries.length === 0) return <span>None</span>;
  return (
    <ul class="inline-list">
      {props.coupon.deliveries.map((delivery) => (
        <li key={delivery.channel}>
          {delivery.channel}: {enumWords(delivery.status)}
          {delivery.sentAt && ` ${formatDate(delivery.sentAt)}`}
          {delivery.error && ` (${delivery.error})`}
        </li>
      ))}
    </ul>
  );
}

/** The names of these lists or campaigns (ids without one, e.g. deleted, are left out). */
async function namesOf(kind: 'couponList' | 'campaign', ids: string[]): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  for (let start = 0; start < ids.length; start += NAMES_PER_REQUEST) {
    const chunk = ids.slice(start, start + NAMES_PER_REQUEST);
    const found = await request(namesQuery(kind, chunk), Object.fromEntries(chunk.map((id, i) => [`id${i}`, id])));
    for (const named of Object.values(found)) if (named) names.set(named.id, named.name);
  }
  return names;
}

/** `User ID` + `Look up`: the user's coupons, newest first, with reuses and deliveries. */
export function UsersPage() {
  const [userId, setUserId] = useState('');
  const [result, setResult] = useState<{ userId: string; coupons: UserCoupon[]; lists: Map<string, string>; campaigns: Map<string, string> } | null>(null);
  const lookUp = useAction(async () => {
    const id = userId.trim();
    if (!id) throw new Error('Enter a user ID.');
    const coupons = (await request(UserCouponsQuery, { userId: id })).userCoupons;
    const distinct = (key: 'listId' | 'campaignId') => [...new Set(coupons.map((coupon) => coupon[key]))];
    const [lists, campaigns] = await Promise.all([namesOf('couponList', distinct('listId')), namesOf('campaign', distinct('campaignId'))]);
    setResult({ userId: id, coupons, lists, campaigns });
  });
  return (
    <section>
      <h1 tabIndex={-1}>Users</h1>
      <form
        class="row lookup"
        onSubmit={submitWith(lookUp)}
      >
        <div class="field">
          <label for="user-id">User ID</label>
          <input id="user-id" value={userId} autocomplete="off" onInput={(event) => setUserId(event.currentTarget.value)} />
        </div>
        <button type="submit" class="primary" disabled={lookUp.busy}>
          {lookUp.busy ? 'Looking up…' : 'Look up'}
        </button>
      </form>
      {lookUp.error != null && (
        <p class="error" role="alert">
          {describeError(lookUp.error)}
        </p>
      )}
      {result && (
        <section aria-labelledby="user-coupons-heading">
          <h2 id="user-coupons-heading">Coupons of {result.userId}</h2>
          {result.coupons.length === 0 ? (
            <p role="status">This user has no coupons.</p>
          ) : (
            <Table caption={`Coupons of ${result.userId}, newest first`} columns={['Code', 'List', 'Campaign', 'Assigned', 'Expires', { label: 'Reuses', num: true }, 'Deliveries']}>
                  {result.coupons.map((coupon) => (
                    <tr key={coupon.id}>
                      <td>
                        <code>{coupon.code}</code>
                      </td>
                      <td>
                        <Link to={`lists/${coupon.listId}`}>{result.lists.get(coupon.listId) ?? `List ${coupon.listId}`}</Link>
                      </td>
                      <td>{result.campaigns.get(coupon.campaignId) ?? `Campaign ${coupon.campaignId}`}</td>
                      <td>{formatDate(coupon.assignedAt)}</td>
                      <td>{formatDate(coupon.expiresAt)}</td>
                      <td class="num">{coupon.history.filter((event) => event.kind === 'REUSED').length}</td>
                      <td>
                        <Deliveries coupon={coupon} />
                      </td>
                    </tr>
                  ))}
            </Table>
          )}
        </section>
      )}
    </section>
  );
}
