import { useState } from 'preact/hooks';
import { request } from '../api/graphql';
import { useAction, useQuery } from '../api/hooks';
import { errorFor, Field, FormError, Select, submitWith } from '../components/form';
import { Table } from '../components/table';
import { CreateMessage, MessagesQuery, UpdateMessage, type Channel, type Message } from '../documents/delivery';
import { canEdit } from '../session';

function MessageBody(props: { id: string; value: string; onInput: (value: string) => void; error: string | null }) {
  return (
    <div class="field">
      <label for={props.id}>Text</label>
      <textarea id={props.id} rows={3} value={props.value} onInput={(event) => props.onInput(event.currentTarget.value)} aria-describedby={`${props.id}-hint`} aria-invalid={props.error ? 'true' : undefined} />
      <small id={`${props.id}-hint`}>{'{couponcode} and {expirydate} are filled in for each user.'}</small>
      {props.error && <small class="field-error">{props.error}</small>}
    </div>
  );
}

/** One message, editable in place (ADMIN). */
function MessageEditor(props: { message: Message; onSaved: (message: Message) => void }) {
  const [values, setValues] = useState({ name: props.message.name, body: props.message.body, active: props.message.active });
  const [saved, setSaved] = useState(false);
  const save = useAction(async () => {
    props.onSaved((await request(UpdateMessage, { id: props.message.id, input: values })).updateTransactionalMessage);
    setSaved(true);
  });
  const change = (next: Partial<typeof values>) => {
    setValues({ ...values, ...next });
    setSaved(false);
  };
  return (
    <form
      class="panel"
      aria-label={`Message ${props.message.name}`}
      onSubmit={submitWith(save)}
    >
      <p class="kind">{props.message.channel}</p>
      <Field label="Message name" name="name" value={values.name} onInput={(event) => change({ name: event.currentTarget.value })} error={errorFor(save.error, 'name')} />
      <MessageBody id={`body-${props.message.id}`} value={values.body} onInput={(body) => change({ body })} error={errorFor(save.error, 'body')} />
      <label class="check">
        <input type="checkbox" checked={values.active} onChange={(event) => change({ active: event.currentTarget.checked })} /> Active
      </label>
      <FormError error={save.error} fields={['name', 'body']} />
      {saved && <p role="status">Saved.</p>}
      <button type="submit" disabled={save.busy}>
        {save.busy ? 'Saving…' : 'Save message'}
      </button>
    </form>
  );
}

function NewMessage(props: { onCreated: (message: Message) => void }) {
  const [values, setValues] = useState({ channel: 'SMS' as Channel, name: '', body: '', active: true });
  const create = useAction(async () => {
    props.onCreated((await request(CreateMessage, { input: values })).createTransactionalMessage);
    setValues({ ...values, name: '', body: '' });
  });
  return (
    <form
      class="panel"
      noValidate
      onSubmit={submitWith(create)}
    >
      <h2>New message</h2>
      <div class="row">
        <Select label="Channel" name="channel" value={values.channel} onChange={(event) => setValues({ ...values, channel: event.currentTarget.value as Channel })}>
          <option value="SMS">SMS</option>
          <option value="PUSH">Push</option>
        </Select>
        <Field label="Message name" name="name" value={values.name} onInput={(event) => setValues({ ...values, name: event.currentTarget.value })} error={errorFor(create.error, 'name')} />
      </div>
      <MessageBody id="new-message-body" value={values.body} onInput={(body) => setValues({ ...values, body })} error={errorFor(create.error, 'body')} />
      <label class="check">
        <input type="checkbox" checked={values.active} onChange={(event) => setValues({ ...values, active: event.currentTarget.checked })} /> Active
      </label>
      <FormError error={create.error} fields={['name', 'body']} />
      <button type="submit" class="primary" disabled={create.busy}>
        {create.busy ? 'Creating…' : 'Create message'}
      </button>
    </form>
  );
}

/** Transactional messages (SMS and push texts): list, create, edit. */
export function MessagesPage() {
  const query = useQuery(MessagesQuery, {});
  const messages = query.data?.transactionalMessages;
  const replace = (message: Message) =>
    query.setData((previous) => previous && { transactionalMessages: previous.transactionalMessages.map((m) => (m.id === message.id ? message : m)) });
  return (
    <section>
      <h1 tabIndex={-1}>Transactional messages</h1>
      {canEdit.value && <NewMessage onCreated={(message) => query.setData((previous) => previous && { transactionalMessages: [message, ...previous.transactionalMessages] })} />}
      {query.error && (
        <p class="error" role="alert">
          Could not load the messages: {query.error}
        </p>
      )}
      {messages && messages.length === 0 && <p>No messages yet.</p>}
      {messages && !canEdit.value && messages.length > 0 && (
        <Table caption="Transactional messages" columns={['Name', 'Channel', 'Text', 'Active']}>
              {messages.map((message) => (
                <tr key={message.id}>
                  <th scope="row">{message.name}</th>
                  <td>{message.channel}</td>
                  <td>{message.body}</td>
                  <td>{message.active ? 'Yes' : 'No'}</td>
                </tr>
              ))}
        </Table>
      )}
      {messages && canEdit.value && (
        <div class="cards">
          {messages.map((message) => (
            <MessageEditor key={message.id} message={message} onSaved={replace} />
          ))}
        </div>
      )}
    </section>
  );
}
