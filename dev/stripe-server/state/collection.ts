import { resourceMissing } from '../http/errors';

/**
 * One account's objects of one kind, in creation order.
 *
 * Stripe lists newest first; since the simulated clock never goes backwards,
 * reverse insertion order is newest-first order.
 */
export class Collection<T extends { id: string }> {
  private readonly items = new Map<string, T>();

  /** `noun` is how Stripe names the object in "No such <noun>: 'id'" errors. */
  constructor(readonly noun: string) {}

  get(id: string): T | undefined {
    return this.items.get(id);
  }

  require(id: string, param = 'id'): T {
    const item = this.items.get(id);
    if (!item) throw resourceMissing(this.noun, id, param);
    return item;
  }

  has(id: string): boolean {
    return this.items.has(id);
  }

  insert(item: T): T {
    this.items.set(item.id, item);
    return item;
  }

  delete(id: string): boolean {
    return this.items.delete(id);
  }

  newestFirst(filter: (item: T) => boolean = () => true): T[] {
    return [...this.items.values()].filter(filter).reverse();
  }

  all(): T[] {
    return [...this.items.values()];
  }
}
