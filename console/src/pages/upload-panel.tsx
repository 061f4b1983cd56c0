import { useEffect, useState } from 'preact/hooks';
import { describeError, request, upload } from '../api/graphql';
import { subscribe } from '../api/live';
import { Confirm } from '../components/dialog';
import type { ListDetail } from '../documents/lists';
import { UploadCodes, UploadProgress, UploadQuery, type Upload, type UploadMode } from '../documents/uploads';
import { formatCount } from '../format';
import { UploadResult } from './upload-result';

type Phase =
  | { kind: 'idle' }
  | { kind: 'sending'; sent: number; total: number }
  | { kind: 'importing'; upload: Upload; estimatedLines: number | null }
  | { kind: 'done'; upload: Upload }
  | { kind: 'failed'; message: string };

const finished = (upload: Upload) => upload.status === 'COMPLETED' || upload.status === 'FAILED';

/** Lines in the file, estimated from its first 64 KiB (the import reports lines, not bytes). */
async function estimateLines(file: File): Promise<number | null> {
  const head = await file.slice(0, 65536).text();
  const lines = head.split('\n').length - (head.endsWith('\n') ? 1 : 0);
  if (lines === 0) return null;
  return head.length >= file.size ? lines : Math.round((file.size / head.length) * lines);
}

/** `Upload codes`: choose or drop a file, Append or Replace, progress while sending and importing, then the counts. */
export function UploadPanel(props: { list: ListDetail; onFinished: () => void }) {
  const [open, setOpen] = useState(false);
  const [file, setFile] = useState<File | null>(null);
  const [mode, setMode] = useState<UploadMode>('APPEND');
  const [confirming, setConfirming] = useState(false);
  const [dragging, setDragging] = useState(false);
  const [phase, setPhase] = useState<Phase>({ kind: 'idle' });
  const [fileError, setFileError] = useState<string | null>(null);
  const running = phase.kind === 'sending' || phase.kind === 'importing';
  const importingId = phase.kind === 'importing' ? phase.upload.id : null;

  // Follow the import live; read it once after subscribing too, in case it ended before.
  useEffect(() => {
    if (!importingId) return;
    let current = true;
    const apply = (next: Upload) => {
      if (!current) return;
      if (finished(next)) {
        setPhase({ kind: 'done', upload: next });
        props.onFinished();
      } else setPhase((previous) => (previous.kind === 'importing' ? { ...previous, upload: next } : previous));
    };
    const stop = subscribe(UploadProgress, { uploadId: importingId }, (data) => apply(data.codeUploadProgress));
    request(UploadQuery, { id: importingId }).then((data) => data.codeUpload && apply(data.codeUpload), () => undefined);
    // A missed final event (WebSocket away) must not leave the bar running: check every few seconds.
    const timer = setInterval(() => request(UploadQuery, { id: importingId }).then((data) => data.codeUpload && apply(data.codeUpload), () => undefined), 3000);
    return () => {
      current = false;
      stop();
      clearInterval(timer);
    };
  }, [importingId]);

  const start = async (toSend: File) => {
    setConfirming(false);
    setPhase({ kind: 'sending', sent: 0, total: toSend.size });
    try {
      const [estimatedLines, result] = await Promise.all([
        estimateLines(toSend).catch(() => null),
        upload(UploadCodes, { listId: props.list.id, file: toSend, mode }, (sent, total) => setPhase({ kind: 'sending', sent, total })),
      ]);
      const received = result.uploadCouponCodes;
      if (finished(received)) {
        setPhase({ kind: 'done', upload: received });
        props.onFinished();
      } else setPhase({ kind: 'importing', upload: received, estimatedLines });
    } catch (error) {
      setPhase({ kind: 'failed', message: describeError(error) });
    }
  };

  /** Choosing (or dropping) a file starts the upload; Replace asks first. */
  const choose = (chosen: File | null | undefined) => {
    setFileError(null);
    if (!chosen || running) return;
    if (!/\.txt$/i.test(chosen.name)) setFileError('The file should be a .txt file with one code per line; uploading it anyway.');
    setFile(chosen);
    setPhase({ kind: 'idle' });
    if (mode === 'REPLACE') setConfirming(true);
    else void start(chosen);
  };

  if (!open) {
    return (
      <button type="button" class="primary" aria-expanded="false" onClick={() => setOpen(true)}>
        Upload codes
      </button>
    );
  }
  return (
    <div class="panel upload-panel">
      <button type="button" class="primary" aria-expanded="true" onClick={() => setOpen(false)} disabled={running}>
        Upload codes
      </button>
      <form onSubmit={(event) => event.preventDefault()}>
        <fieldset disabled={running}>
          <legend>How to load the file</legend>
          <label>
            <input type="radio" name="upload-mode" value="APPEND" checked={mode === 'APPEND'} onChange={() => setMode('APPEND')} /> Append
          </label>
          <label>
            <input type="radio" name="upload-mode" value="REPLACE" checked={mode === 'REPLACE'} onChange={() => setMode('REPLACE')} /> Replace
          </label>
          <small>Replace removes the codes not handed out yet; assigned codes stay assigned.</small>
        </fieldset>
        <div
          class={`drop-zone${dragging ? ' dragging' : ''}`}
          onDragOver={(event) => {
            event.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={(event) => {
            event.preventDefault();
            setDragging(false);
            choose(event.dataTransfer?.files[0]);
          }}
        >
          <label for="code-file">Code file</label>
          <input
            id="code-file"
            type="file"
            accept=".txt,text/plain"
            disabled={running}
            aria-describedby="code-file-hint"
            onChange={(event) => {
              choose(event.currentTarget.files?.[0]);
              // The same file can be chosen again for the next upload.
              event.currentTarget.value = '';
            }}
          />
          <small id="code-file-hint">A .txt file, one code per line, or drop it here: the upload starts at once.</small>
          {file && (
            <p>
              File: <strong>{file.name}</strong> ({formatCount(file.size)} bytes)
            </p>
          )}
          {fileError && <small class="field-error">{fileError}</small>}
        </div>
      </form>
      {phase.kind === 'sending' && (
        <div class="progress">
          <label for="upload-bytes">Sending the file</label>
          <progress id="upload-bytes" max={Math.max(phase.total, 1)} value={phase.sent} />
          <span>
            {formatCount(phase.sent)} of {formatCount(phase.total)} bytes
          </span>
        </div>
      )}
      {phase.kind === 'importing' && (
        <div class="progress">
          <label for="upload-import">Importing codes</label>
          {phase.estimatedLines ? (
            <progress id="upload-import" max={phase.estimatedLines} value={Math.min(phase.upload.linesRead, phase.estimatedLines * 0.99)} aria-valuetext={`${formatCount(phase.upload.linesRead)} lines read`} />
          ) : (
            <progress id="upload-import" aria-valuetext={`${formatCount(phase.upload.linesRead)} lines read`} />
          )}
          <span role="status">
            {phase.upload.status === 'QUEUED' ? 'Waiting for the importer…' : `${formatCount(phase.upload.linesRead)} lines read`}
          </span>
        </div>
      )}
      {phase.kind === 'failed' && (
        <p class="error" role="alert">
          The upload failed: {phase.message}
        </p>
      )}
      {phase.kind === 'done' && <UploadResult upload={phase.upload} />}
      <Confirm
        open={confirming}
        title="Replace the codes?"
        question={`Replace removes the ${formatCount(props.list.availableCodes)} unassigned codes of “${props.list.name}” and loads ${file?.name ?? 'the file'} instead. The ${formatCount(props.list.assignedCodes)} codes already handed out stay assigned.`}
        confirm={`Remove ${formatCount(props.list.availableCodes)} codes and replace`}
        onConfirm={() => file && void start(file)}
        onCancel={() => setConfirming(false)}
      />
    </div>
  );
}
