import { BatchQueue } from '../../src/usage/batch-queue';

/** A group commit whose every call waits until the test releases it; each item's outcome is its own name. */
function heldCommits() {
  const groups: string[][] = [];
  const releases: Array<(error?: Error) => void> = [];
  const commit = (group: readonly string[]) =>
    new Promise<string[]>((resolve, reject) => {
      groups.push([...group]);
      releases.push((error) => (error ? reject(error) : resolve([...group])));
    });
  return { groups, releases, commit };
}

/** The publisher's way: a lone item at once, at most `maxBatch` a group. */
const groupCommit = (commit: (group: readonly string[]) => Promise<string[]>, maxBatch = 500) => new BatchQueue(commit, { maxBatch, gatherFirst: false });

/** Lets every pending promise callback run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('BatchQueue', () => {
  it('commits a lone item at once, in a group of its own', async () => {
    const held = heldCommits();
    const committer = groupCommit(held.commit);
    const done = committer.add('a');
    expect(held.groups).toEqual([['a']]);
    held.releases[0]!();
    await expect(done).resolves.toBe('a');
  });

  it('sends the items that arrive while a group commits together in the next group, each settling with its own group', async () => {
    const held = heldCommits();
    const committer = groupCommit(held.commit);
    const settled: string[] = [];
    const track = (item: string) => committer.add(item).then(() => settled.push(item));
    const all = [track('a'), track('b'), track('c'), track('d')];
    expect(held.groups).toEqual([['a']]);
    await settle();
    expect(settled).toEqual([]); // nothing settles before its commit does

    held.releases[0]!();
    await settle();
    expect(settled).toEqual(['a']);
    expect(held.groups).toEqual([['a'], ['b', 'c', 'd']]);

    held.releases[1]!();
    await Promise.all(all);
    expect(settled).toEqual(['a', 'b', 'c', 'd']);
    expect(held.groups).toHaveLength(2);
  });

  it('rejects only the items of a failed group, and commits the next group', async () => {
    const held = heldCommits();
    const committer = groupCommit(held.commit);
    const first = committer.add('a');
    const second = committer.add('b');
    held.releases[0]!(new Error('deadlock'));
    await expect(first).rejects.toThrow('deadlock');
    await settle();
    expect(held.groups).toEqual([['a'], ['b']]);
    held.releases[1]!();
    await expect(second).resolves.toBe('b');
  });

  it('splits a queue longer than the largest group', async () => {
    const held = heldCommits();
    const committer = groupCommit(held.commit, 2);
    const all = ['a', 'b', 'c', 'd', 'e'].map((item) => committer.add(item));
    for (let i = 0; i < 3; i += 1) {
      held.releases[i]!();
      await settle();
    }
    await Promise.all(all);
    expect(held.groups).toEqual([['a'], ['b', 'c'], ['d', 'e']]);
  });

  it('starts a new group for an item added after the queue ran dry', async () => {
    const held = heldCommits();
    const committer = groupCommit(held.commit);
    const first = committer.add('a');
    held.releases[0]!();
    await first;
    await settle();
    const later = committer.add('b');
    expect(held.groups).toEqual([['a'], ['b']]);
    held.releases[1]!();
    await expect(later).resolves.toBe('b');
  });

  it('rejects only the item whose outcome is an Error, and every item the handler answered no outcome for', async () => {
    const queue = new BatchQueue(async (batch: readonly string[]) => batch.slice(0, 2).map((item) => (item === 'b' ? new Error('b refused') : item.toUpperCase())), { maxBatch: 10, gatherFirst: true });
    const [a, b, c] = ['a', 'b', 'c'].map((item) => queue.add(item));
    await expect(a).resolves.toBe('A');
    await expect(b).rejects.toThrow('b refused');
    await expect(c).rejects.toThrow('fewer outcomes');
  });

  it('with gatherFirst, hands the items added in the same turn over as one batch', async () => {
    const batches: string[][] = [];
    const queue = new BatchQueue(async (batch: readonly string[]) => {
      batches.push([...batch]);
      return [...batch];
    }, { maxBatch: 10, gatherFirst: true });
    const first = queue.add('a');
    expect(batches).toEqual([]); // nothing handed over within the turn
    await Promise.all([first, queue.add('b'), queue.add('c')]);
    expect(batches).toEqual([['a', 'b', 'c']]);
  });
});
