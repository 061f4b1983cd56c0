import { useState } from 'preact/hooks';

/** A secret shown once, with a copy button. */
export function SecretOnce(props: { label: string; secret: string; onDone: () => void }) {
  const [copied, setCopied] = useState<string | null>(null);
  return (
    <div class="secret" role="status">
      <p>
        <strong>{props.label}</strong> It is shown only now: copy it somewhere safe.
      </p>
      <code class="secret-value">{props.secret}</code>
      <div class="actions">
        <button
          type="button"
          onClick={() =>
            navigator.clipboard.writeText(props.secret).then(
              () => setCopied('Copied.'),
              () => setCopied('Could not copy: select the text and copy it by hand.'),
            )
          }
        >
          Copy
        </button>
        <button type="button" onClick={props.onDone}>
          Done
        </button>
        {copied && <span>{copied}</span>}
      </div>
    </div>
  );
}
