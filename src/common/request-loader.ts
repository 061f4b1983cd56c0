/**
 * Per-request batching for field resolvers: keys asked for while one GraphQL level resolves are
 * loaded with one query (e.g. `deliveries` of every assignment in `userCoupons`).
 */
export class BatchLoader<K, V> {
  private pending: Array<{ key: K; resolve: (value: V) => void; reject: (error: unknown) => void }> = [];

  constructor(private readonly loadMany: (keys: K[]) => Promise<Map<K, V>>, private readonly fallback: (key: K) => V) {}

  load(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      if (this.pending.length === 0) {
        // After the current promise jobs: siblings of a list resolve in the same turn.
        Promise.resolve().then(() => process.nextTick(() => void this.dispatch()));
      }
      this.pending.push({ key, resolve, reject });
    });
  }

  private async dispatch(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    try {
      const values = await this.loadMany([...new Set(batch.map((item) => item.key))]);
      for (const item of batch) item.resolve(values.get(item.key) ?? this.fallback(item.key));
    } catch (error) {
      for (const item of batch) item.reject(error);
    }
  }
}

const loadersByRequest = new WeakMap<object, Map<string, BatchLoader<any, any>>>();

/** The loader named `name` for this request (the GraphQL context object), created on first use. */
export function requestLoader<K, V>(context: object, name: string, create: () => BatchLoader<K, V>): BatchLoader<K, V> {
  let loaders = loadersByRequest.get(context);
  if (!loaders) {
    loaders = new Map();
    loadersByRequest.set(context, loaders);
  }
  let loader = loaders.get(name) as BatchLoader<K, V> | undefined;
  if (!loader) {
    loader = create();
    loaders.set(name, loader);
  }
  return loader;
}
