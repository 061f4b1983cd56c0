import { useState } from 'preact/hooks';
import { request } from '../api/graphql';
import { useAction, useQuery } from '../api/hooks';
import { Confirm, useConfirmed } from '../components/dialog';
import { errorFor, Field, FormError, submitWith } from '../components/form';
import { SecretOnce } from '../components/secret';
import { StatusBadge } from '../components/stock';
import { Table } from '../components/table';
import {
  CreateEndpoint,
  DeleteEndpoint,
  DeliveriesQuery,
  EndpointsQuery,
  Redeliver,
  RotateSecret,
  UpdateEndpoint,
  WEBHOOK_EVENTS,
  type WebhookDelivery,
  type WebhookEndpoint,
  type WebhookEvent,
} from '../documents/webhooks';
import { enumWords, formatDate } from '../format';
import { canEdit } from '../session';

function NewEndpoint(props: { onCreated: (endpoint: WebhookEndpoint, secret: string) => void }) {
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [events, setEvents] = useState<WebhookEvent[]>([]);
  const create = useAction(async () => {
    const result = (await request(CreateEndpoint, { input: { url, events, description: description || null } })).createWebhookEndpoint;
    props.onCreated(result.endpoint, result.secret);
    setUrl('');
    setDescription('');
    setEvents([]);
  });
  return (
    <form
      class="panel"
      noValidate
      onSubmit={submitWith(create)}
    >
      <h2>New endpoint</h2>
      <Field label="Endpoint URL" name="url" type="url" placeholder="https://example.com/webhooks" value={url} onInput={(event) => setUrl(event.currentTarget.value)} error={errorFor(create.error, 'url')} />
      <Field label="Description" name="description" value={description} onInput={(event) => setDescription(event.currentTarget.value)} error={errorFor(create.error, 'description')} />
      <fieldset>
        <legend>Events</legend>
        <div class="checks">
          {WEBHOOK_EVENTS.map((name) => (
            <label key={name}>
              <input
                type="checkbox"
                checked={events.includes(name)}
                onChange={(event) => setEvents(event.currentTarget.checked ? [...events, name] : events.filter((e) => e !== name))}
              />{' '}
              {enumWords(name)}
            </label>
          ))}
        </div>
        {errorFor(create.error, 'events') && <small class="field-error">{errorFor(create.error, 'events')}</small>}
      </fieldset>
      <FormError error={create.error} fields={['url', 'description', 'events']} />
      <button type="submit" class="primary" disabled={create.busy}>
        {create.busy ? 'Creating…' : 'Create endpoint'}
      </button>
    </form>
  );
}

function Deliveries(props: { endpoint: WebhookEndpoint }) {
  const [after, setAfter] = useState<string | null>(null);
  const query = useQuery(DeliveriesQuery, { endpointId: props.endpoint.id, after });
  const [outcome, setOutcome] = useState<string | null>(null);
  const redeliver = useAction(async (delivery: WebhookDelivery) => {
    await request(Redeliver, { deliveryId: delivery.id });
    setOutcome(`Queued ${enumWords(delivery.event)} (${delivery.messageId}) again.`);
    query.reload();
  });
  const page = query.data?.webhookDeliveries;
  return (
    <section aria-labelledby={`deliveries-${props.endpoint.id}`}>
      <h3 id={`deliveries-${props.endpoint.id}`}>Recent deliveries to {props.endpoint.url}</h3>
      {query.error && <p class="error">Could not load the deliveries: {query.error}</p>}
      {outcome && <p role="status">{outcome}</p>}
      <FormError error={redeliver.error} />
      {page && page.items.length === 0 && <p>No deliveries yet.</p>}
      {page && page.items.length > 0 && (
        <Table
          caption={`Deliveries to ${props.endpoint.url}, newest first`}
          columns={['Event', 'Status', { label: 'Attempts', num: true }, 'Last answer', 'Created', 'Next attempt', canEdit.value && { label: 'Actions', hidden: true }]}
        >
              {page.items.map((delivery) => (
                <tr key={delivery.id}>
                  <td>{enumWords(delivery.event)}</td>
                  <td>
                    <StatusBadge status={delivery.status} />
                  </td>
                  <td class="num">{delivery.attempts}</td>
                  <td>{delivery.lastError ?? (delivery.lastStatusCode ? `HTTP ${delivery.lastStatusCode}` : '–')}</td>
                  <td>{formatDate(delivery.createdAt)}</td>
                  <td>{formatDate(delivery.nextAttemptAt)}</td>
                  {canEdit.value && (
                    <td>
                      <button type="button" disabled={redeliver.busy} onClick={() => void redeliver.run(delivery)} aria-label={`Redeliver ${enumWords(delivery.event)} ${delivery.messageId}`}>
                        Redeliver
                      </button>
                    </td>
                  )}
                </tr>
              ))}
        </Table>
      )}
      {page?.nextCursor && (
        <button type="button" onClick={() => setAfter(page.nextCursor)}>
          Older deliveries
        </button>
      )}
    </section>
  );
}

/** Webhook endpoints: create (secret shown once), events, enable/disable, rotate, delete; recent deliveries with redeliver. */
export function WebhooksPage() {
  const query = useQuery(EndpointsQuery, {});
  const [secret, setSecret] = useState<{ url: string; secret: string } | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const replace = (endpoint: WebhookEndpoint) =>
    query.setData((previous) => previous && { webhookEndpoints: previous.webhookEndpoints.map((e) => (e.id === endpoint.id ? endpoint : e)) });
  const toggle = useAction(async (endpoint: WebhookEndpoint) => replace((await request(UpdateEndpoint, { id: endpoint.id, input: { enabled: !endpoint.enabled } })).updateWebhookEndpoint));
  const rotate = useAction(async (endpoint: WebhookEndpoint) => {
    const result = (await request(RotateSecret, { id: endpoint.id })).rotateWebhookSecret;
    replace(result.endpoint);
    setSecret({ url: result.endpoint.url, secret: result.secret });
  });
  const remove = useConfirmed(async (endpoint: WebhookEndpoint) => {
    await request(DeleteEndpoint, { id: endpoint.id });
    query.setData((previous) => previous && { webhookEndpoints: previous.webhookEndpoints.filter((e) => e.id !== endpoint.id) });
    if (selected === endpoint.id) setSelected(null);
  });
  const endpoints = query.data?.webhookEndpoints;
  const chosen = endpoints?.find((endpoint) => endpoint.id === selected);
  return (
    <section>
      <h1 tabIndex={-1}>Webhooks</h1>
      {canEdit.value && (
        <NewEndpoint
          onCreated={(endpoint, created) => {
            query.setData((previous) => previous && { webhookEndpoints: [...previous.webhookEndpoints, endpoint] });
            setSecret({ url: endpoint.url, secret: created });
          }}
        />
      )}
      {secret && <SecretOnce label={`Signing secret for ${secret.url}:`} secret={secret.secret} onDone={() => setSecret(null)} />}
      {query.error && (
        <p class="error" role="alert">
          Could not load the webhook endpoints: {query.error}
        </p>
      )}
      <FormError error={toggle.error ?? rotate.error} />
      {endpoints && endpoints.length === 0 && <p>No endpoints yet.</p>}
      {endpoints && endpoints.length > 0 && (
        <Table caption="Webhook endpoints" columns={['URL', 'Events', 'State', { label: 'Actions', hidden: true }]}>
              {endpoints.map((endpoint) => (
                <tr key={endpoint.id}>
                  <th scope="row">
                    {endpoint.url}
                    {endpoint.description && <small class="kind">{endpoint.description}</small>}
                  </th>
                  <td>{endpoint.events.map(enumWords).join(', ')}</td>
                  <td>{endpoint.enabled ? 'Enabled' : `Disabled${endpoint.disabledReason ? `: ${endpoint.disabledReason}` : ''}`}</td>
                  <td class="actions">
                    <button type="button" aria-pressed={selected === endpoint.id} onClick={() => setSelected(selected === endpoint.id ? null : endpoint.id)}>
                      Deliveries
                    </button>
                    {canEdit.value && (
                      <>
                        <button type="button" disabled={toggle.busy} onClick={() => void toggle.run(endpoint)}>
                          {endpoint.enabled ? 'Disable' : 'Enable'}
                        </button>
                        <button type="button" disabled={rotate.busy} onClick={() => void rotate.run(endpoint)}>
                          Rotate secret
                        </button>
                        <button type="button" class="danger" onClick={() => remove.ask(endpoint)}>
                          Delete
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
        </Table>
      )}
      {chosen && <Deliveries key={chosen.id} endpoint={chosen} />}
      <Confirm {...remove.dialog} title="Delete the endpoint?" question={`Delete ${remove.target?.url ?? ''}? It receives no more events.`} confirm="Delete endpoint" />
    </section>
  );
}
