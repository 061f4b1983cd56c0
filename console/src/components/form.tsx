import type { ComponentChildren, InputHTMLAttributes, SelectHTMLAttributes, TargetedEvent } from 'preact';
import { useId } from 'preact/hooks';
import { describeError, GraphQLRequestError } from '../api/graphql';

/** The server's BAD_USER_INPUT field ("input.alertEmails[1]") as the form's field name ("alertEmails"). */
export function fieldOf(error: unknown): string | null {
  if (!(error instanceof GraphQLRequestError) || error.code !== 'BAD_USER_INPUT' || !error.field) return null;
  return error.field.replace(/^input\./, '').replace(/\[\d+\]$/, '');
}

/** The message to show beside `name`, when the server named that field. */
export const errorFor = (error: unknown, name: string) => (fieldOf(error) === name ? describeError(error) : null);

/** The input attributes the console's forms use. */
interface InputProps {
  name: string;
  value: string;
  onInput: (event: TargetedEvent<HTMLInputElement>) => void;
  type?: 'text' | 'url' | 'email' | 'datetime-local' | 'search';
  inputMode?: 'numeric' | 'text';
  placeholder?: string;
  autocomplete?: string;
  required?: boolean;
  maxLength?: number;
}

/** A labelled input with its hint and error, tied together for screen readers. */
export function Field(props: InputProps & { label: string; error?: string | null; hint?: string }) {
  const { label, error, hint, ...input } = props;
  const id = useId();
  const described = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {/* Preact types inputs as a union per `type`; these props fit every member used here. */}
      <input id={id} aria-invalid={error ? 'true' : undefined} aria-describedby={described} {...(input as unknown as InputHTMLAttributes<HTMLInputElement>)} />
      {hint && <small id={`${id}-hint`}>{hint}</small>}
      {error && (
        <small id={`${id}-error`} class="field-error">
          {error}
        </small>
      )}
    </div>
  );
}

export function Select(props: SelectHTMLAttributes<HTMLSelectElement> & { label: string; name: string; children: ComponentChildren; error?: string | null }) {
  const { label, children, error, ...select } = props;
  const id = useId();
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} aria-invalid={error ? 'true' : undefined} aria-describedby={error ? `${id}-error` : undefined} {...select}>
        {children}
      </select>
      {error && (
        <small id={`${id}-error`} class="field-error">
          {error}
        </small>
      )}
    </div>
  );
}

/** An error the form could not attach to one field; announced when it appears. */
export function FormError(props: { error: unknown; fields?: string[] }) {
  if (!props.error) return null;
  const field = fieldOf(props.error);
  if (field && props.fields?.includes(field)) return null;
  return (
    <p class="error" role="alert">
      {describeError(props.error)}
    </p>
  );
}

/** Text that screen readers announce politely (what an action did). */
export const Status = (props: { children: ComponentChildren }) => (
  <p class="status" role="status">
    {props.children}
  </p>
);

/** A form's onSubmit that runs the action instead of navigating. */
export const submitWith = (action: { run: () => Promise<boolean> }) => (event: Event) => {
  event.preventDefault();
  void action.run();
};
