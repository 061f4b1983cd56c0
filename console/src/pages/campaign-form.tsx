import { useState } from 'preact/hooks';
import { request } from '../api/graphql';
import { useAction, useQuery } from '../api/hooks';
import { errorFor, Field, FormError, Select, submitWith } from '../components/form';
import { CAMPAIGN_KINDS, CreateCampaign, type Campaign, type CampaignKind } from '../documents/campaigns';
import { ListPicker } from '../documents/lists';
import { enumWords } from '../format';

/** Name, kind and the lists in the order claims draw from them. */
export function CampaignForm(props: { onCreated: (campaign: Campaign) => void; onCancel: () => void }) {
  const [name, setName] = useState('');
  const [kind, setKind] = useState<CampaignKind>('WIDGET');
  const [chosen, setChosen] = useState<{ id: string; name: string }[]>([]);
  const [adding, setAdding] = useState('');
  const [find, setFind] = useState('');
  const lists = useQuery(ListPicker, { search: find.trim() || null });
  const create = useAction(async () => props.onCreated((await request(CreateCampaign, { input: { name, kind, listIds: chosen.map((list) => list.id) } })).createCampaign));
  const available = (lists.data?.couponLists.items ?? []).filter((list) => !chosen.some((c) => c.id === list.id));
  const move = (index: number, by: number) => {
    const next = [...chosen];
    const [item] = next.splice(index, 1);
    next.splice(index + by, 0, item!);
    setChosen(next);
  };
  return (
    <form
      noValidate
      onSubmit={submitWith(create)}
    >
      <Field label="Campaign name" name="name" value={name} onInput={(event) => setName(event.currentTarget.value)} error={errorFor(create.error, 'name')} />
      <Select label="Kind" name="kind" value={kind} onChange={(event) => setKind(event.currentTarget.value as CampaignKind)}>
        {CAMPAIGN_KINDS.map((value) => (
          <option key={value} value={value}>
            {enumWords(value)}
          </option>
        ))}
      </Select>
      <fieldset>
        <legend>Lists, in the order claims use them</legend>
        {chosen.length === 0 && <p>No lists chosen yet.</p>}
        <ol class="chosen-lists">
          {chosen.map((list, index) => (
            <li key={list.id}>
              <span>{list.name}</span>
              <button type="button" aria-label={`Move ${list.name} up`} disabled={index === 0} onClick={() => move(index, -1)}>
                ↑
              </button>
              <button type="button" aria-label={`Move ${list.name} down`} disabled={index === chosen.length - 1} onClick={() => move(index, 1)}>
                ↓
              </button>
              <button type="button" aria-label={`Remove ${list.name}`} onClick={() => setChosen(chosen.filter((c) => c.id !== list.id))}>
                Remove
              </button>
            </li>
          ))}
        </ol>
        <div class="row">
          <Field label="Find lists" name="find" type="search" value={find} onInput={(event) => setFind(event.currentTarget.value)} hint="Part of a name" />
          <Select label="List to add" name="add-list" value={adding} onChange={(event) => setAdding(event.currentTarget.value)} error={errorFor(create.error, 'listIds')}>
            <option value="">Choose a list…</option>
            {available.map((list) => (
              <option key={list.id} value={list.id}>
                {list.name} ({enumWords(list.status)})
              </option>
            ))}
          </Select>
          <button
            type="button"
            disabled={!adding}
            onClick={() => {
              const list = available.find((l) => l.id === adding);
              if (list) setChosen([...chosen, { id: list.id, name: list.name }]);
              setAdding('');
            }}
          >
            Add list
          </button>
        </div>
      </fieldset>
      <FormError error={create.error} fields={['name', 'listIds']} />
      <div class="actions">
        <button type="submit" class="primary" disabled={create.busy}>
          {create.busy ? 'Creating…' : 'Create campaign'}
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
