import { useEffect } from 'preact/hooks';
import { useQuery } from '../api/hooks';
import { StatusBadge } from '../components/stock';
import { Table } from '../components/table';
import { UploadHistory as UploadHistoryQuery } from '../documents/uploads';
import { enumWords, formatCount, formatDate } from '../format';

/** The list's uploads, newest first; `version` changes when an upload ends. */
export function UploadHistory(props: { listId: string; version: number }) {
  const query = useQuery(UploadHistoryQuery, { listId: props.listId });
  useEffect(() => {
    if (props.version > 0) query.reload();
  }, [props.version]);
  if (query.error) return <p class="error">Could not load the uploads: {query.error}</p>;
  const uploads = query.data?.codeUploads;
  if (!uploads) return <p role="status">Loading uploads…</p>;
  if (uploads.length === 0) return <p>No uploads yet.</p>;
  return (
    <Table
      caption="Uploads of this list"
      columns={['File', 'Mode', 'Status', { label: 'Codes added', num: true }, { label: 'Duplicates skipped', num: true }, { label: 'Lines rejected', num: true }, 'Uploaded']}
    >
          {uploads.map((upload) => (
            <tr key={upload.id}>
              <td>{upload.fileName}</td>
              <td>{enumWords(upload.mode)}</td>
              <td>
                <StatusBadge status={upload.status} />
                {upload.failureReason && <small> {upload.failureReason}</small>}
              </td>
              <td class="num">{formatCount(upload.codesAdded)}</td>
              <td class="num">{formatCount(upload.duplicatesSkipped)}</td>
              <td class="num">{formatCount(upload.invalidLines)}</td>
              <td>{formatDate(upload.createdAt)}</td>
            </tr>
          ))}
    </Table>
  );
}
