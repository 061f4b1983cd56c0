import { Table } from '../components/table';
import type { Upload } from '../documents/uploads';
import { formatCount } from '../format';

/** An upload's outcome: the counts and the rejected lines with their reasons. */
export function UploadResult(props: { upload: Upload }) {
  const { upload } = props;
  return (
    <div class="upload-result" role="status">
      <p>
        {upload.status === 'COMPLETED' ? `${upload.fileName} is loaded.` : `${upload.fileName} failed: ${upload.failureReason ?? 'no reason given'}. The list was left as it was.`}
      </p>
      <dl class="counts">
        <div>
          <dt>Added</dt>
          <dd>{formatCount(upload.codesAdded)}</dd>
        </div>
        <div>
          <dt>Duplicates</dt>
          <dd>{formatCount(upload.duplicatesSkipped)}</dd>
        </div>
        <div>
          <dt>Rejected</dt>
          <dd>{formatCount(upload.invalidLines)}</dd>
        </div>
      </dl>
      {upload.errors.length > 0 && (
        <Table
          captionVisible
          caption={`Rejected lines${upload.invalidLines > upload.errors.length ? ` (the first ${upload.errors.length} of ${formatCount(upload.invalidLines)})` : ''}`}
          columns={[{ label: 'Line', num: true }, 'Reason']}
        >
              {upload.errors.map((error) => (
                <tr key={error.line}>
                  <td class="num">{error.line}</td>
                  <td>{error.reason}</td>
                </tr>
              ))}
        </Table>
      )}
    </div>
  );
}
