import { runCli, withMigratedFreeEngineConfig } from '../helpers/cli';

/**
 * `meterline usage requeue` as a newcomer runs it: usage mistakes exit 2 before anything is read,
 * a record that does not exist exits 1 saying so (with --json, the same as an object). The
 * re-queue itself is tested over HTTP on every database (test/http/admin/usage-requeue.test.ts)
 * and at the record store (test/usage/requeue.test.ts); the CLI calls the same service.
 */
it('exits 2 for usage mistakes and 1 for a record that does not exist', async () => {
  await withMigratedFreeEngineConfig(async (config) => {
    for (const [args, message] of [
      [['usage', 'requeue'], 'exactly one of --record <id> and --subscription <uuid>'],
      [['usage', 'requeue', '--record', 'abc'], '--record: "abc" is not a record id'],
      [['publish-usage', '--record', '1'], '--record goes with "usage requeue"'],
    ] as const) {
      const result = await runCli([...args, '--config', config]);
      expect({ args, code: result.code, stdout: result.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(result.stderr).toContain(message);
    }
    const missing = await runCli(['usage', 'requeue', '--record', '999999', '--config', config]);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toContain('meterline: usage record 999999 was not found');
    const json = await runCli(['usage', 'requeue', '--subscription', 'no-such-subscription', '--json', '--config', config]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({ requeued: [], error: 'subscription no-such-subscription has no ENGINE_ERROR usage record' });
  });
}, 30_000);
