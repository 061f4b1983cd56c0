import { computed, signal } from '@preact/signals';
import { GraphQLRequestError, gql, request, transport } from './api/graphql';
import { closeLive, openLive } from './api/live';

export type Role = 'ADMIN' | 'VIEWER';
interface Session {
  key: string;
  role: Role;
}

const STORAGE_KEY = 'coupon-console-session';

export const session = signal<Session | null>(null);
/** Why the user is back at sign-in (signed out, key refused). */
export const signInNotice = signal<string | null>(null);
/** ADMIN keys change things; VIEWER keys only look. */
export const canEdit = computed(() => session.value?.role === 'ADMIN');

const AdminProbe = gql<{ apiKeys: { id: string }[] }>('query AdminProbe { apiKeys { id } }');
const ViewerProbe = gql<{ transactionalMessages: { id: string }[] }>('query ViewerProbe { transactionalMessages { id } }');

/** Which role a key has, found by what it may read: API keys (ADMIN) or messages (VIEWER). */
async function roleOf(key: string): Promise<Role> {
  try {
    await request(AdminProbe, {}, key);
    return 'ADMIN';
  } catch (error) {
    if (!(error instanceof GraphQLRequestError) || error.code !== 'FORBIDDEN') throw error;
  }
  try {
    await request(ViewerProbe, {}, key);
    return 'VIEWER';
  } catch (error) {
    if (error instanceof GraphQLRequestError && error.code === 'FORBIDDEN') {
      throw new GraphQLRequestError('This is a CLIENT key (for widget backends). The console needs an ADMIN or VIEWER key.', 'FORBIDDEN');
    }
    throw error;
  }
}

function begin(next: Session): void {
  transport.key = next.key;
  session.value = next;
  signInNotice.value = null;
  openLive(next.key, (reason) => signOut(reason));
}

/** Checks the key with the server, then keeps it for this tab only (sessionStorage). */
export async function signIn(key: string): Promise<void> {
  const trimmed = key.trim();
  if (!trimmed) throw new GraphQLRequestError('Enter an API key.', 'BAD_USER_INPUT');
  let role: Role;
  try {
    role = await roleOf(trimmed);
  } catch (error) {
    if (error instanceof GraphQLRequestError && error.code === 'UNAUTHENTICATED') {
      throw new GraphQLRequestError('This API key is not valid: it is unknown, revoked or expired.', 'UNAUTHENTICATED');
    }
    throw error;
  }
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ key: trimmed, role }));
  begin({ key: trimmed, role });
}

export function signOut(notice: string | null = null): void {
  sessionStorage.removeItem(STORAGE_KEY);
  transport.key = null;
  closeLive();
  session.value = null;
  signInNotice.value = notice;
}

/** Resumes the tab's session after a reload; a refused key sends the user back with the reason. */
export function restoreSession(): void {
  transport.onUnauthenticated = (reason) => {
    if (session.value) signOut(`Signed out: ${reason.replace(/^A valid API key is required.*/, 'the server no longer accepts this API key (revoked or expired)')}.`);
  };
  try {
    const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null') as Session | null;
    if (stored && typeof stored.key === 'string' && (stored.role === 'ADMIN' || stored.role === 'VIEWER')) begin(stored);
  } catch {
    sessionStorage.removeItem(STORAGE_KEY);
  }
}
