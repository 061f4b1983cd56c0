import { useState } from 'preact/hooks';
import { request } from '../api/graphql';
import { useAction, useQuery } from '../api/hooks';
import { Confirm, useConfirmed } from '../components/dialog';
import { errorFor, Field, FormError, Select, submitWith } from '../components/form';
import { SecretOnce } from '../components/secret';
import { Table } from '../components/table';
import { CreateKey, KeysQuery, RevokeKey, type ApiKey, type KeyRole } from '../documents/keys';
import { enumWords, formatDate } from '../format';
import { canEdit } from '../session';

const ROLE_HINTS: Record<KeyRole, string> = {
  ADMIN: 'everything, including API keys',
  CLIENT: 'claim coupons and read campaigns and lists (a widget backend)',
  VIEWER: 'read everything and watch live (a dashboard)',
};

function ApiKeysAdmin() {
  const query = useQuery(KeysQuery, {});
  const [name, setName] = useState('');
  const [role, setRole] = useState<KeyRole>('CLIENT');
  const [created, setCreated] = useState<{ name: string; secret: string } | null>(null);
  const create = useAction(async () => {
    const result = (await request(CreateKey, { name, role })).createApiKey;
    query.setData((previous) => previous && { apiKeys: [...previous.apiKeys, result.apiKey] });
    setCreated({ name: result.apiKey.name, secret: result.secret });
    setName('');
  });
  const revoke = useConfirmed(async (key: ApiKey) => {
    const revoked = (await request(RevokeKey, { id: key.id })).revokeApiKey;
    query.setData((previous) => previous && { apiKeys: previous.apiKeys.map((k) => (k.id === revoked.id ? revoked : k)) });
  });
  return (
    <>
      <section aria-labelledby="new-key-heading" class="panel">
        <h2 id="new-key-heading">New API key</h2>
        {created ? (
          <SecretOnce label={`The key “${created.name}”:`} secret={created.secret} onDone={() => setCreated(null)} />
        ) : (
          <form
            class="row"
            noValidate
            onSubmit={submitWith(create)}
          >
            <Field label="Key name" name="name" value={name} onInput={(event) => setName(event.currentTarget.value)} error={errorFor(create.error, 'name')} />
            <Select label="Role" name="role" value={role} onChange={(event) => setRole(event.currentTarget.value as KeyRole)}>
              {(Object.keys(ROLE_HINTS) as KeyRole[]).map((value) => (
                <option key={value} value={value}>
                  {enumWords(value)}: {ROLE_HINTS[value]}
                </option>
              ))}
            </Select>
            <button type="submit" class="primary" disabled={create.busy}>
              {create.busy ? 'Creating…' : 'Create key'}
            </button>
          </form>
        )}
        <FormError error={create.error} fields={['name']} />
      </section>
      {query.error && (
        <p class="error" role="alert">
          Could not load the keys: {query.error}
        </p>
      )}
      {query.data && (
        <Table caption="API keys" columns={['Name', 'Role', 'Created', 'Revoked', { label: 'Actions', hidden: true }]}>
              {query.data.apiKeys.map((key) => (
                <tr key={key.id}>
                  <th scope="row">{key.name}</th>
                  <td>{enumWords(key.role)}</td>
                  <td>{formatDate(key.createdAt)}</td>
                  <td>{key.revokedAt ? formatDate(key.revokedAt) : 'No'}</td>
                  <td>
                    {!key.revokedAt && (
                      <button type="button" class="danger" aria-label={`Revoke ${key.name}`} onClick={() => revoke.ask(key)}>
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
        </Table>
      )}
      <Confirm
        {...revoke.dialog}
        title="Revoke the key?"
        question={`Revoke “${revoke.target?.name ?? ''}”? Every request with it is refused from now on; this cannot be undone.`}
        confirm="Revoke key"
      />
    </>
  );
}

export function ApiKeysPage() {
  return (
    <section>
      <h1 tabIndex={-1}>API keys</h1>
      {canEdit.value ? <ApiKeysAdmin /> : <p>API keys are managed with an ADMIN key; this VIEWER key cannot see or change them.</p>}
    </section>
  );
}
