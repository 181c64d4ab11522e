/** What the demo's client saw, by HTTP status. */
export interface TrafficResult {
  sent: number;
  byStatus: Record<string, number>;
  succeeded: number;
  failed: number;
  elapsedMs: number;
}

/**
 * Sends `count` calls to the gateway over loopback, `concurrency` at a time, with a deadline.
 * Mostly successful greetings; every 500th call hits a failing backend (500) and every 200th an
 * unknown resource (404), to show that unsuccessful calls are recorded but never billed.
 */
export async function sendTraffic(gatewayUrl: string, apiKey: string, options: { count: number; concurrency: number; deadlineMs: number }): Promise<TrafficResult> {
  const started = Date.now();
  const byStatus: Record<string, number> = {};
  let next = 0;
  const pathFor = (i: number) => (i % 500 === 499 ? '/hello/v1/boom' : i % 200 === 199 ? '/hello/v1/nowhere' : `/hello/v1/greeting?name=caller${i}`);
  const worker = async () => {
    while (next < options.count) {
      if (Date.now() - started > options.deadlineMs) throw new Error(`the calls took longer than ${options.deadlineMs / 1000} s (${next} of ${options.count} sent)`);
      const i = next++;
      const response = await fetch(`${gatewayUrl}${pathFor(i)}`, { headers: { apikey: apiKey }, signal: AbortSignal.timeout(10_000) });
      await response.arrayBuffer();
      byStatus[response.status] = (byStatus[response.status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const succeeded = Object.entries(byStatus).reduce((sum, [status, n]) => (status.startsWith('2') ? sum + n : sum), 0);
  return { sent: options.count, byStatus, succeeded, failed: options.count - succeeded, elapsedMs: Date.now() - started };
}
