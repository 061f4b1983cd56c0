import type { ComponentChildren } from 'preact';

export interface Column {
  label: string;
  /** Right-aligned figures. */
  num?: boolean;
  /** A header only screen readers hear (e.g. "Actions" over buttons). */
  hidden?: boolean;
}

/** A table in a scrolling frame, with its caption (visible or for screen readers) and column headers. */
export function Table(props: { caption: string; captionVisible?: boolean; columns: (Column | string | false)[]; class?: string; busy?: boolean; children: ComponentChildren }) {
  const columns = props.columns.filter((column): column is Column | string => column !== false).map((column) => (typeof column === 'string' ? { label: column } : column));
  return (
    <div class="table-wrap">
      <table class={props.class}>
        <caption class={props.captionVisible ? undefined : 'visually-hidden'}>{props.caption}</caption>
        <thead>
          <tr>
            {columns.map((column) => (
              <th key={column.label} scope="col" class={column.num ? 'num' : undefined}>
                {column.hidden ? <span class="visually-hidden">{column.label}</span> : column.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody aria-busy={props.busy ? 'true' : undefined}>{props.children}</tbody>
      </table>
    </div>
  );
}
