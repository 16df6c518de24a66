/**
 * One 'abort' listener per AbortSignal, however many waits share it: Node warns
 * (MaxListenersExceededWarning) past 10 listeners on one signal, so a request-scoped signal
 * handed to many get()s would print a false leak warning.
 */
const listening = new WeakMap<AbortSignal, { fns: Set<() => void>; fire: () => void }>();

/** Calls `fn` when `signal` aborts; returns what stops listening (the last one removes the listener). */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  let entry = listening.get(signal);
  if (!entry) {
    const fns = new Set<() => void>();
    const fire = (): void => {
      listening.delete(signal);
      for (const f of fns) f();
    };
    entry = { fns, fire };
    listening.set(signal, entry);
    signal.addEventListener('abort', fire, { once: true });
  }
  const { fns, fire } = entry;
  fns.add(fn);
  return () => {
    fns.delete(fn);
    if (fns.size > 0 || listening.get(signal)?.fns !== fns) return;
    listening.delete(signal);
    signal.removeEventListener('abort', fire);
  };
}
