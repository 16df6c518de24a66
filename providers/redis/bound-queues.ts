/**
 * The queues an exchange routes a routing key to, from its bindings in `_kombu.binding.<exchange>`
 * (members `<routing key><sep><pattern><sep><queue>`), as kombu's virtual exchanges look them up
 * when a message is restored (§2.4). kombu stores a pattern only for a binding to a topic
 * exchange: such a binding matches by kombu's topic rule, any other by its routing key alone.
 */

/** Every queue whose binding matches `routingKey`, each once (kombu delivers to each). */
export function boundQueues(members: readonly string[], routingKey: string, sep: string): string[] {
  const queues = new Set<string>();
  for (const member of members) {
    const [bindingKey = '', pattern, queue] = member.split(sep);
    if (!queue) continue;
    if (pattern ? topicMatches(bindingKey, routingKey) : bindingKey === routingKey) queues.add(queue);
  }
  return [...queues];
}

/**
 * kombu's TopicExchange: the binding key is split into dot-separated words; a word `#` matches any
 * text (none included), a word `*` any text ending in a character that is not a dot, any other
 * word itself, its characters other than letters, digits, `*` and `#` taken literally; the whole
 * routing key must match. So `task.#` matches `task.add` and `task.a.b`, not `task`. A `*` inside
 * a word repeats what precedes it, as in kombu's regular expression; a binding key that makes no
 * regular expression (one starting with `*`) matches nothing.
 */
export function topicMatches(bindingKey: string, routingKey: string): boolean {
  let regex = cache.get(bindingKey);
  if (regex === undefined) {
    regex = topicRegex(bindingKey);
    if (cache.size >= CACHE_SIZE) cache.clear();
    cache.set(bindingKey, regex);
  }
  return regex?.test(routingKey) ?? false;
}

/** Binding keys are few (one per declared queue); the cap only bounds what a stranger could write. */
const CACHE_SIZE = 1000;
const cache = new Map<string, RegExp | null>();

function topicRegex(bindingKey: string): RegExp | null {
  const words = bindingKey.split('.').map((word) => {
    if (word === '#') return '.*?';
    if (word === '*') return '.*?[^.]';
    // kombu escapes all but letters, digits, '*' and '#': a '*' inside a word stays a repetition.
    return word.replace(/[\\^$+?()[\]{}|/-]/g, '\\$&');
  });
  try {
    return new RegExp(`^${words.join('\\.')}$`);
  } catch {
    return null;
  }
}
