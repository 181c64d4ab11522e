/**
 * Hands items to `handle` a batch at a time, one batch in flight: the items that arrive while a
 * batch is handled wait and go together in the next one (a group commit, when `handle` writes
 * them in one transaction). Each caller's promise settles with its own item's outcome: an `Error`
 * in its place rejects only that caller; `handle` throwing rejects the whole batch.
 */
export class BatchQueue<I, O> {
  private waiting: Array<{ item: I; resolve: (outcome: O) => void; reject: (error: unknown) => void }> = [];
  private handling = false;

  constructor(
    /** Answers one outcome (or an Error) per item, in order. */
    private readonly handle: (batch: readonly I[]) => Promise<ReadonlyArray<O | Error>>,
    private readonly options: {
      /** The most items handed over at once. */
      maxBatch: number;
      /**
       * Wait one turn of the event loop before the first batch, so the items other callers add in
       * the same turn join it; otherwise a lone item is handled at once, waiting for nothing.
       */
      gatherFirst: boolean;
    },
  ) {}

  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.handling) return;
      this.handling = true;
      if (this.options.gatherFirst) setImmediate(() => void this.drain());
      else void this.drain();
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting.splice(0, this.options.maxBatch);
        try {
          const outcomes = await this.handle(batch.map((w) => w.item));
          batch.forEach((waiting, i) => {
            const outcome = outcomes[i];
            if (outcomes.length <= i) waiting.reject(new Error('fewer outcomes were answered than items were given'));
            else if (outcome instanceof Error) waiting.reject(outcome);
            else waiting.resolve(outcome as O);
          });
        } catch (error) {
          for (const waiting of batch) waiting.reject(error);
        }
      }
    } finally {
      this.handling = false;
    }
  }
}
