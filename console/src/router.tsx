import { signal } from '@preact/signals';
import type { JSX } from 'preact';

/** The console lives under /console/; the server answers every path below it with the app. */
export const BASE = '/console/';

const currentPath = () => location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : '';

/** The path below /console/ (e.g. "lists/3") and its query string. */
export const route = signal({ path: currentPath(), search: location.search });

export function navigate(to: string, replace = false): void {
  const url = BASE + to.replace(/^\//, '');
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  route.value = { path: currentPath(), search: location.search };
  window.scrollTo(0, 0);
}

addEventListener('popstate', () => {
  route.value = { path: currentPath(), search: location.search };
});

/** A same-app link: a real href (open in a new tab works), navigation without reload. */
export function Link(props: { to: string; children: JSX.Element | string | (JSX.Element | string)[]; class?: string; 'aria-current'?: 'page' }) {
  const href = BASE + props.to.replace(/^\//, '');
  return (
    <a
      href={href}
      class={props.class}
      aria-current={props['aria-current']}
      onClick={(event) => {
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
        event.preventDefault();
        navigate(props.to);
      }}
    >
      {props.children}
    </a>
  );
}
