/**
 * Builds a value on first use and shares it with every later (or concurrent) caller. A failed
 * build is forgotten, so a cold start that hit a passing fault (a secret not set yet) is retried
 * by the next invocation instead of failing for the container's whole life.
 *
 * @example const runtime = onceUntilFailure(() => buildClients());
 */
export function onceUntilFailure<T>(build: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    if (!pending) {
      pending = build();
      pending.catch(() => {
        pending = undefined;
      });
    }
    return pending;
  };
}
