import { useEffect, useRef } from 'preact/hooks';
import { connection } from './api/live';
import { Toasts } from './components/toasts';
import { ApiKeysPage } from './pages/api-keys';
import { CampaignsPage } from './pages/campaigns';
import { ListPage } from './pages/list';
import { ListsPage } from './pages/lists';
import { MessagesPage } from './pages/messages';
import { SignInPage } from './pages/sign-in';
import { UsersPage } from './pages/users';
import { WebhooksPage } from './pages/webhooks';
import { Link, route } from './router';
import { session, signOut } from './session';

const NAV: { to: string; label: string; matches: (path: string) => boolean }[] = [
  { to: '', label: 'Lists', matches: (path) => path === '' || path.startsWith('lists') },
  { to: 'campaigns', label: 'Campaigns', matches: (path) => path.startsWith('campaigns') },
  { to: 'users', label: 'Users', matches: (path) => path.startsWith('users') },
  { to: 'messages', label: 'Messages', matches: (path) => path.startsWith('messages') },
  { to: 'api-keys', label: 'API keys', matches: (path) => path.startsWith('api-keys') },
  { to: 'webhooks', label: 'Webhooks', matches: (path) => path.startsWith('webhooks') },
];

function Page(props: { path: string }) {
  const listMatch = /^lists\/([^/]+)$/.exec(props.path);
  if (listMatch) return <ListPage id={decodeURIComponent(listMatch[1]!)} />;
  switch (props.path) {
    case '':
    case 'lists':
      return <ListsPage />;
    case 'campaigns':
      return <CampaignsPage />;
    case 'users':
      return <UsersPage />;
    case 'messages':
      return <MessagesPage />;
    case 'api-keys':
      return <ApiKeysPage />;
    case 'webhooks':
      return <WebhooksPage />;
    default:
      return (
        <section>
          <h1>Page not found</h1>
          <p>
            There is no page at this address. <Link to="">Back to the start</Link>.
          </p>
        </section>
      );
  }
}

/** Says so while the WebSocket is away; live figures resume (and reload) when it is back. */
function ConnectionBanner() {
  const state = connection.value;
  return (
    <div class={state === 'reconnecting' ? 'banner banner-warning' : 'visually-hidden'} role="status">
      {state === 'reconnecting' ? 'Live updates are disconnected: reconnecting…' : state === 'connected' ? 'Live updates connected' : ''}
    </div>
  );
}

export function App() {
  const current = session.value;
  const path = route.value.path;
  const main = useRef<HTMLElement>(null);
  // After navigation, move focus to the new page's heading so screen readers announce it.
  useEffect(() => {
    main.current?.querySelector<HTMLElement>('h1')?.focus();
    const section = NAV.find((item) => item.matches(path));
    document.title = section ? `${section.label} · Coupon lists console` : 'Coupon lists console';
  }, [path]);
  if (!current) return <SignInPage />;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Coupon lists</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.label}>
                <Link to={item.to} aria-current={item.matches(path) ? 'page' : undefined}>
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          <span class="role">{current.role === 'ADMIN' ? 'Admin' : 'Viewer (read only)'}</span>
          <button type="button" onClick={() => signOut('You signed out.')}>
            Sign out
          </button>
        </span>
      </header>
      <ConnectionBanner />
      <main id="main" ref={main}>
        <Page path={path} />
      </main>
      <Toasts />
    </>
  );
}
