import { gql } from '../api/graphql';

export type CampaignKind = 'SPIN_TO_WIN' | 'COPY_BUTTON' | 'WIDGET' | 'AUTOMATED';
export const CAMPAIGN_KINDS: CampaignKind[] = ['SPIN_TO_WIN', 'COPY_BUTTON', 'WIDGET', 'AUTOMATED'];

export interface Campaign {
  id: string;
  name: string;
  kind: CampaignKind;
  status: 'ACTIVE' | 'FINISHED';
  finishedAt: string | null;
  finishReason: 'LIST_EXHAUSTED' | 'LIST_EXPIRED' | 'MANUAL' | null;
  createdAt: string;
  lists: { id: string; name: string }[];
}

const CAMPAIGN = 'id name kind status finishedAt finishReason createdAt lists { id name }';

export const CampaignsQuery = gql<{ campaigns: Campaign[] }>(`query Campaigns { campaigns { ${CAMPAIGN} } }`);

export const CreateCampaign = gql<{ createCampaign: Campaign }, { input: { name: string; kind: CampaignKind; listIds: string[] } }>(
  `mutation CreateCampaign($input: CreateCampaignInput!) { createCampaign(input: $input) { ${CAMPAIGN} } }`,
);

export const FinishCampaign = gql<{ finishCampaign: Campaign }, { id: string }>(`mutation FinishCampaign($id: ID!) { finishCampaign(id: $id) { ${CAMPAIGN} } }`);

export const CampaignChanges = gql<{ campaignStatusChanged: Campaign }>(`subscription CampaignChanges { campaignStatusChanged { ${CAMPAIGN} } }`);
