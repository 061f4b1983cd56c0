import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { useAction } from '../api/hooks';
import { FormError } from './form';

/**
 * A modal dialog on the native <dialog>: focus moves into it and back to what opened it when
 * it closes; Escape closes it.
 */
export function Dialog(props: { title: string; open: boolean; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<Element | null>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) {
      opener.current = document.activeElement;
      dialog.showModal();
    } else if (!props.open && dialog.open) {
      dialog.close();
    }
  }, [props.open]);
  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      onClose={() => {
        props.onClose();
        if (opener.current instanceof HTMLElement && opener.current.isConnected) opener.current.focus();
      }}
    >
      <h2 id={titleId}>{props.title}</h2>
      {props.open && props.children}
    </dialog>
  );
}

/** Asks before something that cannot be undone; the question says what will happen. */
export function Confirm(props: { open: boolean; title: string; question: ComponentChildren; confirm: string; busy?: boolean; error?: unknown; onConfirm: () => void; onCancel: () => void }) {
  return (
    <Dialog title={props.title} open={props.open} onClose={props.onCancel}>
      <p>{props.question}</p>
      <FormError error={props.error} />
      <div class="actions">
        <button type="button" class="danger" disabled={props.busy} onClick={props.onConfirm}>
          {props.busy ? 'Working…' : props.confirm}
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}

/**
 * An action on one thing that is confirmed first: `ask(thing)` opens the question, and
 * `dialog` goes to <Confirm> (busy while it runs, the error in the dialog, closed when done).
 */
export function useConfirmed<T>(perform: (target: T) => Promise<unknown>) {
  const [target, setTarget] = useState<T | null>(null);
  const action = useAction(async (chosen: T) => {
    await perform(chosen);
    setTarget(null);
  });
  return {
    target,
    ask: (chosen: T) => setTarget(() => chosen),
    dialog: {
      open: target !== null,
      busy: action.busy,
      error: action.error,
      onConfirm: () => {
        if (target !== null) void action.run(target);
      },
      onCancel: () => {
        setTarget(null);
        action.clearError();
      },
    },
  };
}
