/**
 * Task ids this worker was told to revoke. Like Celery's, in memory and bounded (§6: 50000
 * ids); the oldest are forgotten first.
 */
const MAX_REVOKED = 50_000;

export class RevokedIds {
  private readonly ids = new Set<string>();

  add(ids: Iterable<string>): void {
    for (const id of ids) {
      this.ids.delete(id); // re-adding makes it the newest
      this.ids.add(id);
      if (this.ids.size > MAX_REVOKED) this.ids.delete(this.ids.values().next().value as string);
    }
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  list(): string[] {
    return [...this.ids];
  }
}

export const isTaskId = (v: unknown): v is string => typeof v === 'string' && v !== '';

/** The ids in a peer's `revoked` (hello, §6): Celery sends a dict keyed by id, celeriac a list. */
export function revokedIdsOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter(isTaskId);
  return value && typeof value === 'object' ? Object.keys(value).filter(isTaskId) : [];
}
