/**
 * Percent-decoding as Python's urllib.parse.unquote does it, which kombu and redis-py use on
 * URLs: a '%' not followed by two hex digits is kept as it is, and bytes that are not UTF-8
 * become U+FFFD, where decodeURIComponent throws a URIError on either.
 */
export function unquote(text: string): string {
  return text.replace(/(?:%[0-9a-f]{2})+/gi, (run) => Buffer.from(run.replaceAll('%', ''), 'hex').toString('utf8'));
}
