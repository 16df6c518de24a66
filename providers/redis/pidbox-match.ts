/**
 * kombu's 'glob' pidbox matcher (§6): Python's fnmatch (`*`, `?`, `[...]`, `[!...]`) over the
 * whole node name. Whoever can publish to the pidbox picks the pattern, so it is not turned into
 * a RegExp, which backtracks for as long as `*a*a*a*a*a*X` makes it: one pass that goes back
 * only to the last `*` takes at most pattern length × name length steps.
 *
 * kombu's other matcher, 'pcre', is a regular expression from the wire, which no rule makes
 * safe to run on V8's backtracking engine (`(.*)*X` takes it minutes): such requests are refused
 * where they are read (control.ts). Celery's CLI never sends a pattern; only its Python API does.
 */
export function matchesGlob(hostname: string, pattern: string): boolean {
  let p = 0;
  let h = 0;
  // Where the last `*` was, and how much of the name it has swallowed so far.
  let star = -1;
  let swallowed = 0;
  while (h < hostname.length) {
    if (pattern[p] === '*') {
      star = p++;
      swallowed = h;
      continue;
    }
    const next = p < pattern.length ? matchOne(pattern, p, hostname[h] as string) : undefined;
    if (next !== undefined) {
      p = next;
      h++;
    } else if (star >= 0) {
      p = star + 1;
      h = ++swallowed;
    } else return false;
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/** Where the pattern goes on when its token at `p` (not `*`) matches `c`; undefined when it does not. */
function matchOne(pattern: string, p: number, c: string): number | undefined {
  const token = pattern[p];
  if (token === '?') return p + 1;
  if (token === '[') {
    const set = readSet(pattern, p);
    if (set) return set.has(c) ? set.end : undefined;
  }
  return token === c ? p + 1 : undefined;
}

/** fnmatch's `[...]` opening at `open`: what it holds and where the pattern goes on after it; undefined when never closed (the `[` is then itself). */
function readSet(pattern: string, open: number): { has: (c: string) => boolean; end: number } | undefined {
  let i = open + 1;
  const negated = pattern[i] === '!';
  if (negated) i++;
  // A `]` right after the opening (or its `!`) is a member, as in fnmatch.
  const close = pattern.indexOf(']', pattern[i] === ']' ? i + 1 : i);
  if (close < 0) return undefined;
  const body = pattern.slice(i, close);
  const has = (c: string): boolean => {
    for (let k = 0; k < body.length; k++) {
      const lo = body[k] as string;
      if (body[k + 1] === '-' && k + 2 < body.length) {
        if (c >= lo && c <= (body[k + 2] as string)) return true;
        k += 2;
      } else if (c === lo) return true;
    }
    return false;
  };
  return { has: (c) => has(c) !== negated, end: close + 1 };
}
