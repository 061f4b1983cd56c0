import { useEffect, useState } from 'preact/hooks';
import { request } from '../api/graphql';
import { useAction, useQuery } from '../api/hooks';
import { FormError, submitWith } from '../components/form';
import { ListDeliveryQuery, SetListDelivery, type Channel, type Message } from '../documents/delivery';
import { Link } from '../router';
import { canEdit } from '../session';

const CHANNEL_NAMES: Record<Channel, string> = { SMS: 'SMS', PUSH: 'push' };

/** SMS and push for new assignments of the list: on/off and which message. */
export function DeliveryPanel(props: { listId: string }) {
  const query = useQuery(ListDeliveryQuery, { id: props.listId });
  const settings = query.data?.couponList?.delivery;
  const messages = query.data?.transactionalMessages ?? [];
  const [form, setForm] = useState({ smsEnabled: false, pushEnabled: false, smsMessageId: '', pushMessageId: '' });
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    if (settings)
      setForm({
        smsEnabled: settings.smsEnabled,
        pushEnabled: settings.pushEnabled,
        smsMessageId: settings.smsMessage?.id ?? '',
        pushMessageId: settings.pushMessage?.id ?? '',
      });
  }, [settings]);
  const save = useAction(async () => {
    setSaved(false);
    const result = await request(SetListDelivery, {
      listId: props.listId,
      input: { ...form, smsMessageId: form.smsMessageId || null, pushMessageId: form.pushMessageId || null },
    });
    query.setData((previous) => previous && { ...previous, couponList: result.setListDelivery });
    setSaved(true);
  });

  if (query.error) return <p class="error">Could not load the delivery settings: {query.error}</p>;
  if (!settings) return <p role="status">Loading delivery settings…</p>;
  if (!canEdit.value) {
    return (
      <ul>
        <li>SMS: {settings.smsEnabled ? `on, with “${settings.smsMessage?.name ?? '?'}”` : 'off'}</li>
        <li>Push: {settings.pushEnabled ? `on, with “${settings.pushMessage?.name ?? '?'}”` : 'off'}</li>
      </ul>
    );
  }

  const channel = (name: Channel, enabledKey: 'smsEnabled' | 'pushEnabled', messageKey: 'smsMessageId' | 'pushMessageId') => {
    const choices = messages.filter((message: Message) => message.channel === name);
    return (
      <fieldset>
        <legend>{name === 'SMS' ? 'SMS' : 'Push'}</legend>
        <label>
          <input
            type="checkbox"
            checked={form[enabledKey]}
            onChange={(event) => {
              setForm({ ...form, [enabledKey]: event.currentTarget.checked });
              setSaved(false);
            }}
          />{' '}
          Send new codes by {CHANNEL_NAMES[name]}
        </label>
        <div class="field">
          <label for={`${props.listId}-${messageKey}`}>{name === 'SMS' ? 'SMS message' : 'Push message'}</label>
          <select
            id={`${props.listId}-${messageKey}`}
            value={form[messageKey]}
            onChange={(event) => {
              setForm({ ...form, [messageKey]: event.currentTarget.value });
              setSaved(false);
            }}
          >
            <option value="">None</option>
            {choices.map((message) => (
              <option key={message.id} value={message.id}>
                {message.name}
                {message.active ? '' : ' (inactive)'}
              </option>
            ))}
          </select>
        </div>
      </fieldset>
    );
  };

  return (
    <form
      class="delivery"
      onSubmit={submitWith(save)}
    >
      <div class="row">
        {channel('SMS', 'smsEnabled', 'smsMessageId')}
        {channel('PUSH', 'pushEnabled', 'pushMessageId')}
      </div>
      {messages.length === 0 && (
        <p>
          No transactional messages yet: <Link to="messages">write one</Link> first.
        </p>
      )}
      <FormError error={save.error} />
      {saved && <p role="status">Delivery settings saved.</p>}
      <button type="submit" disabled={save.busy}>
        {save.busy ? 'Saving…' : 'Save delivery settings'}
      </button>
    </form>
  );
}
