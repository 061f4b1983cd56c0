import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { describeError, request, type Document } from './graphql';
import { reconnections, subscribe } from './live';

export interface QueryState<Result> {
  data: Result | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
  /** Replaces the data in place (after a mutation or a live update). */
  setData: (update: (previous: Result | null) => Result | null) => void;
}

/** Runs a query when `key` (the variables, as text) changes and after the WebSocket reconnects. */
export function useQuery<Result, Variables>(document: Document<Result, Variables>, variables: Variables, enabled = true): QueryState<Result> {
  const [data, setDataState] = useState<Result | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(enabled);
  const [nonce, setNonce] = useState(0);
  const key = JSON.stringify(variables);
  const reconnected = reconnections.value;
  useEffect(() => {
    if (!enabled) return;
    let current = true;
    setLoading(true);
    request(document, JSON.parse(key) as Variables).then(
      (result) => {
        if (!current) return;
        setDataState(result);
        setError(null);
        setLoading(false);
      },
      (failure: unknown) => {
        if (!current) return;
        setError(describeError(failure));
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
  }, [document, key, nonce, reconnected, enabled]);
  const reload = useCallback(() => setNonce((n) => n + 1), []);
  return { data, error, loading, reload, setData: setDataState };
}

/** Subscribes while mounted (and `key` is unchanged); the latest handler is always used. */
export function useSubscription<Result, Variables>(document: Document<Result, Variables>, variables: Variables, onData: (data: Result) => void, enabled = true): void {
  const handler = useRef(onData);
  handler.current = onData;
  const key = JSON.stringify(variables);
  useEffect(() => {
    if (!enabled) return;
    return subscribe(document, JSON.parse(key) as Variables, (data) => handler.current(data));
  }, [document, key, enabled]);
}

export interface Action<Args extends unknown[]> {
  run: (...args: Args) => Promise<boolean>;
  busy: boolean;
  error: unknown;
  clearError: () => void;
}

/** A user action: shows it is working, then its outcome; errors kept for the form to show. */
export function useAction<Args extends unknown[]>(perform: (...args: Args) => Promise<unknown>): Action<Args> {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const latest = useRef(perform);
  latest.current = perform;
  const run = useCallback(async (...args: Args) => {
    setBusy(true);
    setError(null);
    try {
      await latest.current(...args);
      return true;
    } catch (failure) {
      setError(failure);
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { run, busy, error, clearError: () => setError(null) };
}
