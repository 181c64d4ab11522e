import type { SubscriptionRef } from '../domain/model';
import type { BillingCycles } from './billing-cycles';
import { byWindow, type RecordStore, type UsageRecord } from './record-store';
import type { SubscriptionLookup } from './subscription-lookup';
import type { CycleSpec } from './windows';

/** Records a job reads per query while sending: what it holds at once, however many subscriptions wait. */
export const SEND_PAGE_RECORDS = 1_000;

/** One subscription's records still to send, with what sending them needs. */
export interface SubscriptionWork {
  subscriptionUuid: string;
  /** Undefined when the subscription no longer exists. */
  ref: SubscriptionRef | undefined;
  cycle: CycleSpec | undefined;
  /** Its records in window order: the page's, or (when the page may have cut it) read as they are consumed. */
  records: Iterable<UsageRecord> | AsyncIterable<UsageRecord>;
}

interface Page {
  groups: UsageRecord[][];
  refs: Map<string, SubscriptionRef>;
  cycles: Map<string, CycleSpec>;
  /** The page was full: its last subscription may have more records, and more subscriptions may follow. */
  full: boolean;
}

/**
 * The records still to send, one subscription at a time, read in pages of `pageSize` records
 * (keyset on the subscription, so a page costs the same at any depth) with each page's
 * subscriptions and billing cycles looked up together. The next page is read while the current
 * one is handed out, and no further: a job holds about two pages, not its whole backlog.
 * A subscription a page's end may cut is read on its own, with keyset reads in window order.
 * Consumers may pull concurrently (an async generator serves its `next` calls one by one).
 */
export async function* pendingWork(deps: { records: RecordStore; lookup: Pick<SubscriptionLookup, 'subscriptionRefs'>; cycles: Pick<BillingCycles, 'known'> }, pageSize = SEND_PAGE_RECORDS): AsyncGenerator<SubscriptionWork> {
  const read = async (after: string | undefined): Promise<Page> => {
    const rows = await deps.records.pendingPage(after, pageSize);
    const groups: UsageRecord[][] = [];
    for (const row of rows) {
      const last = groups.at(-1);
      if (last && last[0]!.subscriptionUuid === row.subscriptionUuid) last.push(row);
      else groups.push([row]);
    }
    const uuids = groups.map((g) => g[0]!.subscriptionUuid);
    const [refs, cycles] = uuids.length === 0 ? [new Map(), new Map()] : await Promise.all([deps.lookup.subscriptionRefs(uuids), deps.cycles.known(uuids)]);
    return { groups, refs, cycles, full: rows.length === pageSize };
  };
  let next: Promise<Page> | undefined = read(undefined);
  while (next) {
    const page: Page = await next;
    const lastUuid = page.groups.at(-1)?.[0]!.subscriptionUuid;
    next = page.full ? read(lastUuid) : undefined;
    // Read ahead; its error, if any, is thrown where it is awaited (or dropped with the job).
    next?.catch(() => undefined);
    for (const [index, group] of page.groups.entries()) {
      const uuid = group[0]!.subscriptionUuid;
      // A full page's last subscription may go on past it: it is read whole, on its own.
      const cut = page.full && index === page.groups.length - 1;
      yield { subscriptionUuid: uuid, ref: page.refs.get(uuid), cycle: page.cycles.get(uuid), records: cut ? recordsOf(deps.records, uuid, pageSize) : group.sort(byWindow) };
    }
  }
}

/** One subscription's records still to send, in window order, a page at a time (keyset on the window). */
async function* recordsOf(store: RecordStore, subscriptionUuid: string, pageSize: number): AsyncGenerator<UsageRecord> {
  let after: UsageRecord | undefined;
  for (;;) {
    const chunk = await store.pendingOf(subscriptionUuid, after, pageSize);
    yield* chunk;
    if (chunk.length < pageSize) return;
    after = chunk.at(-1);
  }
}

/**
 * Runs `work` over what `items` yields with at most `concurrency` in flight, pulling as workers
 * free up; stops pulling once `stopped()` says so (the rest is not read at all).
 */
export async function forEachPulled<T>(items: AsyncIterable<T>, concurrency: number, work: (item: T) => Promise<void>, stopped: () => boolean = () => false): Promise<void> {
  const iterator = items[Symbol.asyncIterator]();
  const worker = async () => {
    while (!stopped()) {
      const step = await iterator.next();
      if (step.done) return;
      await work(step.value);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
}
