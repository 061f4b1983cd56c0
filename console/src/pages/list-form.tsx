import { useState } from 'preact/hooks';
import { GraphQLRequestError, request } from '../api/graphql';
import { useAction } from '../api/hooks';
import { errorFor, Field, FormError, submitWith } from '../components/form';
import { CreateList, UpdateList, type ListDetail, type ListInput, type ListKind } from '../documents/lists';
import { fromLocalInput, toLocalInput } from '../format';

const FIELDS = ['name', 'kind', 'fixedCode', 'fixedLimit', 'warningLimit', 'alertEmails', 'expiresAt'];

/** A whole number typed by the user, or null when left empty; anything else names the field. */
function wholeNumber(field: string, label: string, text: string): number | null {
  const trimmed = text.trim();
  if (!trimmed) return null;
  if (!/^\d+$/.test(trimmed)) throw new GraphQLRequestError(`${label} must be a whole number, such as 100.`, 'BAD_USER_INPUT', `input.${field}`);
  return Number(trimmed);
}

const emails = (text: string) =>
  text
    .split(/[\s,;]+/)
    .map((address) => address.trim())
    .filter(Boolean);

/** Creates a list (no `list`) or edits one; the server's BAD_USER_INPUT appears beside its field. */
export function ListForm(props: { list?: ListDetail; onSaved: (list: ListDetail) => void; onCancel?: () => void }) {
  const existing = props.list;
  const [kind, setKind] = useState<ListKind>(existing?.kind ?? 'UNIQUE');
  const [values, setValues] = useState({
    name: existing?.name ?? '',
    fixedCode: existing?.fixedCode ?? '',
    fixedLimit: existing?.fixedLimit?.toString() ?? '',
    warningLimit: existing?.warningLimit?.toString() ?? '',
    alertEmails: existing?.alertEmails.join(', ') ?? '',
    expiresAt: toLocalInput(existing?.expiresAt),
  });
  const [saved, setSaved] = useState(false);
  const set = (name: keyof typeof values) => (event: { currentTarget: HTMLInputElement }) => {
    setValues({ ...values, [name]: event.currentTarget.value });
    setSaved(false);
  };

  const save = useAction(async () => {
    const input: ListInput = {
      name: values.name,
      warningLimit: wholeNumber('warningLimit', 'Warning limit', values.warningLimit),
      alertEmails: emails(values.alertEmails),
      expiresAt: fromLocalInput(values.expiresAt),
    };
    if (kind === 'FIXED') {
      input.fixedCode = values.fixedCode;
      input.fixedLimit = wholeNumber('fixedLimit', 'Fixed limit', values.fixedLimit);
    }
    const result = existing
      ? (await request(UpdateList, { id: existing.id, input })).updateCouponList
      : (await request(CreateList, { input: { ...input, kind } })).createCouponList;
    setSaved(true);
    props.onSaved(result);
  });
  const error = save.error;
  const prefix = existing ? `edit-${existing.id}` : 'new';

  return (
    <form
      class="list-form"
      noValidate
      onSubmit={submitWith(save)}
    >
      <Field label="Name" name="name" value={values.name} onInput={set('name')} error={errorFor(error, 'name')} required maxLength={200} />
      {!existing && (
        <fieldset>
          <legend>Kind</legend>
          <label>
            <input type="radio" name={`${prefix}-kind`} value="UNIQUE" checked={kind === 'UNIQUE'} onChange={() => setKind('UNIQUE')} /> Unique codes (you upload
            them; each goes to one user)
          </label>
          <label>
            <input type="radio" name={`${prefix}-kind`} value="FIXED" checked={kind === 'FIXED'} onChange={() => setKind('FIXED')} /> Fixed code (one code for
            everyone, up to a limit)
          </label>
          {errorFor(error, 'kind') && <small class="field-error">{errorFor(error, 'kind')}</small>}
        </fieldset>
      )}
      {kind === 'FIXED' && (
        <div class="row">
          <Field label="Fixed code" name="fixedCode" value={values.fixedCode} onInput={set('fixedCode')} error={errorFor(error, 'fixedCode')} autocomplete="off" />
          <Field
            label="Fixed limit"
            name="fixedLimit"
            inputMode="numeric"
            value={values.fixedLimit}
            onInput={set('fixedLimit')}
            error={errorFor(error, 'fixedLimit')}
            hint="How many times the code can be handed out"
          />
        </div>
      )}
      <div class="row">
        <Field
          label="Warning limit"
          name="warningLimit"
          inputMode="numeric"
          value={values.warningLimit}
          onInput={set('warningLimit')}
          error={errorFor(error, 'warningLimit')}
          hint="Alert when this many codes or fewer are left; empty for none"
        />
        <Field label="Expires at" name="expiresAt" type="datetime-local" value={values.expiresAt} onInput={set('expiresAt')} error={errorFor(error, 'expiresAt')} hint="Your local time; empty for never" />
      </div>
      <Field
        label="Alert e-mails"
        name="alertEmails"
        value={values.alertEmails}
        onInput={set('alertEmails')}
        error={errorFor(error, 'alertEmails')}
        hint="Addresses separated by commas"
        autocomplete="off"
      />
      <FormError error={error} fields={FIELDS} />
      {saved && existing && <p role="status">Saved.</p>}
      <div class="actions">
        <button type="submit" class="primary" disabled={save.busy}>
          {save.busy ? 'Saving…' : existing ? 'Save changes' : 'Create list'}
        </button>
        {props.onCancel && (
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}
