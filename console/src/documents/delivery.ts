import { gql } from '../api/graphql';

export type Channel = 'SMS' | 'PUSH';

export interface Message {
  id: string;
  channel: Channel;
  name: string;
  body: string;
  active: boolean;
  updatedAt: string;
}

export interface DeliverySettings {
  smsEnabled: boolean;
  pushEnabled: boolean;
  smsMessage: { id: string; name: string } | null;
  pushMessage: { id: string; name: string } | null;
}

const MESSAGE = 'id channel name body active updatedAt';
const SETTINGS = 'smsEnabled pushEnabled smsMessage { id name } pushMessage { id name }';

export const MessagesQuery = gql<{ transactionalMessages: Message[] }>(`query Messages { transactionalMessages { ${MESSAGE} } }`);

export const CreateMessage = gql<{ createTransactionalMessage: Message }, { input: { channel: Channel; name: string; body: string; active: boolean } }>(
  `mutation CreateMessage($input: CreateTransactionalMessageInput!) { createTransactionalMessage(input: $input) { ${MESSAGE} } }`,
);

export const UpdateMessage = gql<{ updateTransactionalMessage: Message }, { id: string; input: { name: string; body: string; active: boolean } }>(
  `mutation UpdateMessage($id: ID!, $input: UpdateTransactionalMessageInput!) { updateTransactionalMessage(id: $id, input: $input) { ${MESSAGE} } }`,
);

export const ListDeliveryQuery = gql<{ couponList: { id: string; delivery: DeliverySettings } | null; transactionalMessages: Message[] }, { id: string }>(
  `query ListDelivery($id: ID!) { couponList(id: $id) { id delivery { ${SETTINGS} } } transactionalMessages { ${MESSAGE} } }`,
);

export const SetListDelivery = gql<
  { setListDelivery: { id: string; delivery: DeliverySettings } },
  { listId: string; input: { smsEnabled: boolean; pushEnabled: boolean; smsMessageId: string | null; pushMessageId: string | null } }
>(`mutation SetListDelivery($listId: ID!, $input: DeliverySettingsInput!) { setListDelivery(listId: $listId, input: $input) { id delivery { ${SETTINGS} } } }`);
