/**
 * kombu's pidbox matchers (§6): a request may address nodes by `pattern` with `matcher` 'glob'
 * (fnmatch: `*`, `?`, `[...]`) or 'pcre' (a regular expression matched from the start of the node name).
 */
export function matchesPattern(hostname: string, pattern: string, matcher: string): boolean {
  try {
    // re.match, as kombu's matcher: anchored at the start of the name, not at its end.
    if (matcher === 'pcre') return new RegExp(`^(?:${pattern})`).test(hostname);
    if (matcher === 'glob') return globToRegExp(pattern).test(hostname);
  } catch {
    // an invalid pattern addresses nobody
  }
  return false;
}

function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) out += '\\[';
      else {
        const body = glob.slice(i + 1, end);
        out += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else out += c.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
  }
  return new RegExp(`^${out}$`, 's');
}
