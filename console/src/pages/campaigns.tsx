import { useState } from 'preact/hooks';
import { request } from '../api/graphql';
import { useQuery, useSubscription } from '../api/hooks';
import { Confirm, Dialog, useConfirmed } from '../components/dialog';
import { StatusBadge } from '../components/stock';
import { Table } from '../components/table';
import { CampaignChanges, CampaignsQuery, FinishCampaign, type Campaign } from '../documents/campaigns';
import { enumWords, formatDate } from '../format';
import { Link } from '../router';
import { canEdit } from '../session';
import { CampaignForm } from './campaign-form';

const REASONS: Record<string, string> = { LIST_EXHAUSTED: 'Its lists ran out', LIST_EXPIRED: 'Its lists expired', MANUAL: 'Finished by hand' };

/** Campaigns, newest first, live from campaignStatusChanged. */
export function CampaignsPage() {
  const query = useQuery(CampaignsQuery, {});
  const [creating, setCreating] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const upsert = (campaign: Campaign) =>
    query.setData((previous) => {
      if (!previous) return previous;
      const others = previous.campaigns.filter((c) => c.id !== campaign.id);
      const known = others.length !== previous.campaigns.length;
      return { campaigns: known ? previous.campaigns.map((c) => (c.id === campaign.id ? campaign : c)) : [campaign, ...others] };
    });
  useSubscription(CampaignChanges, {}, ({ campaignStatusChanged }) => upsert(campaignStatusChanged));
  const finish = useConfirmed(async (campaign: Campaign) => {
    upsert((await request(FinishCampaign, { id: campaign.id })).finishCampaign);
    setNotice(`Finished the campaign “${campaign.name}”.`);
  });

  const campaigns = query.data?.campaigns;
  return (
    <section>
      <div class="page-head">
        <h1 tabIndex={-1}>Campaigns</h1>
        {canEdit.value && (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            New campaign
          </button>
        )}
      </div>
      {notice && <p role="status" class="notice">{notice}</p>}
      {query.error && (
        <p class="error" role="alert">
          Could not load the campaigns: {query.error}
        </p>
      )}
      {!campaigns && query.loading && <p role="status">Loading campaigns…</p>}
      {campaigns && campaigns.length === 0 && <p>No campaigns yet.</p>}
      {campaigns && campaigns.length > 0 && (
        <Table caption="Campaigns with their live status" columns={['Name', 'Kind', 'Status', 'Finish reason', 'Lists', canEdit.value && { label: 'Actions', hidden: true }]}>
              {campaigns.map((campaign) => (
                <tr key={campaign.id}>
                  <th scope="row">{campaign.name}</th>
                  <td>{enumWords(campaign.kind)}</td>
                  <td>
                    <StatusBadge status={campaign.status} />
                    {campaign.finishedAt && <small> {formatDate(campaign.finishedAt)}</small>}
                  </td>
                  <td>{campaign.finishReason ? REASONS[campaign.finishReason] ?? enumWords(campaign.finishReason) : '–'}</td>
                  <td>
                    <ol class="inline-list">
                      {campaign.lists.map((list) => (
                        <li key={list.id}>
                          <Link to={`lists/${list.id}`}>{list.name}</Link>
                        </li>
                      ))}
                    </ol>
                  </td>
                  {canEdit.value && (
                    <td>
                      {campaign.status === 'ACTIVE' && (
                        <button type="button" onClick={() => finish.ask(campaign)} aria-label={`Finish ${campaign.name}`}>
                          Finish
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
        </Table>
      )}
      <Dialog title="New campaign" open={creating} onClose={() => setCreating(false)}>
        <CampaignForm
          onCancel={() => setCreating(false)}
          onCreated={(campaign) => {
            upsert(campaign);
            setCreating(false);
            setNotice(`Created the campaign “${campaign.name}”.`);
          }}
        />
      </Dialog>
      <Confirm
        {...finish.dialog}
        title="Finish the campaign?"
        question={`Finish “${finish.target?.name ?? ''}” now? Claims in it will then fail with CAMPAIGN_FINISHED, and it does not restart.`}
        confirm="Finish campaign"
      />
    </section>
  );
}
