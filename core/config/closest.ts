/**
 * The nearest valid key for an error message ("did you mean 'broker_url'?"). A misspelled
 * setting must never be silently ignored (DESIGN.md "Configuration"), and the error is only
 * helpful if it points at the key the user meant.
 */

/**
 * Optimal string alignment distance: Levenshtein plus adjacent transpositions, so the common
 * typo 'broker_ulr' is one edit from 'broker_url', not two.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      let best = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, ((d[i - 2] as number[])[j - 2] as number) + 1);
      }
      row[j] = best;
    }
  }
  return (d[rows - 1] as number[])[cols - 1] as number;
}

/**
 * The candidate nearest to `word` (case-insensitive), or undefined when none is close enough
 * to be a plausible typo: at most a third of the word's length in edits (minimum 2), so
 * 'broker_ulr' finds 'broker_url' but 'colour' suggests nothing.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  const limit = Math.max(2, Math.floor(w.length / 3));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const c = candidate.toLowerCase();
    // A key that contains the word (or the reverse) is a good guess even when far in edits:
    // 'acks_late' → 'task_acks_late'.
    const contains = w.length >= 4 && (c.includes(w) || w.includes(c));
    const distance = contains ? Math.min(editDistance(w, c), limit) : editDistance(w, c);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

/** " Did you mean 'x'?" when a candidate is close, '' otherwise; appended to error messages. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const guess = closest(word, candidates);
  return guess === undefined ? '' : ` Did you mean '${guess}'?`;
}
