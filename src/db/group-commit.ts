/**
 * Commits items a group at a time, as a database's own group commit does: an item handed in while
 * no group is committing starts one at once; items handed in while a group commits wait and go
 * together in the next. No timer, so a lone item waits for nothing but its own commit. Each
 * caller's promise settles with its group's commit (rejects with its error), so a caller knows
 * its item is durable before it goes on.
 */
export class GroupCommit<T> {
  private waiting: Array<{ item: T; resolve: () => void; reject: (error: unknown) => void }> = [];
  private committing = false;

  /** `commit`: writes one group, all or nothing (one transaction); at most `maxGroup` items. */
  constructor(
    private readonly commit: (group: readonly T[]) => Promise<void>,
    private readonly maxGroup = 500,
  ) {}

  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (!this.committing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.committing = true;
    try {
      while (this.waiting.length > 0) {
        const group = this.waiting.splice(0, this.maxGroup);
        try {
          await this.commit(group.map((w) => w.item));
          for (const w of group) w.resolve();
        } catch (error) {
          for (const w of group) w.reject(error);
        }
      }
    } finally {
      this.committing = false;
    }
  }
}
