import { useState } from 'preact/hooks';
import { useAction } from '../api/hooks';
import { describeError } from '../api/graphql';
import { signIn, signInNotice } from '../session';

export function SignInPage() {
  const [key, setKey] = useState('');
  const action = useAction(signIn);
  const notice = signInNotice.value;
  return (
    <main class="sign-in" id="main">
      <h1>Coupon lists console</h1>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void action.run(key);
        }}
      >
        {notice && (
          <p class="notice" role="status">
            {notice}
          </p>
        )}
        <div class="field">
          <label for="api-key">API key</label>
          <input
            id="api-key"
            name="api-key"
            type="password"
            autocomplete="off"
            required
            value={key}
            aria-invalid={action.error ? 'true' : undefined}
            aria-describedby={action.error ? 'sign-in-error' : 'sign-in-hint'}
            onInput={(event) => setKey(event.currentTarget.value)}
          />
          <small id="sign-in-hint">
            An ADMIN key (everything) or a VIEWER key (read only); it is kept in this tab only. A service just started without ADMIN_API_KEY names its
            development key in its log.
          </small>
        </div>
        {action.error != null && (
          <p id="sign-in-error" class="error" role="alert">
            {describeError(action.error)}
          </p>
        )}
        <button type="submit" class="primary" disabled={action.busy}>
          {action.busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
