/**
 * setTimeout for any delay. Node runs a timer longer than 2^31−1 ms (about 24.8 days) after 1 ms
 * instead, with only a warning: a month-long time limit would fire at once. Longer delays are
 * waited for in steps of the longest timer Node keeps.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LongTimeout {
  clear(): void;
}

export function setLongTimeout(fn: () => void, ms: number): LongTimeout {
  let timer: NodeJS.Timeout;
  const arm = (left: number): void => {
    timer = left > MAX_TIMER_MS ? setTimeout(() => arm(left - MAX_TIMER_MS), MAX_TIMER_MS) : setTimeout(fn, left);
  };
  arm(ms);
  return { clear: () => clearTimeout(timer) };
}
