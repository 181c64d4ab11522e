import { createServer, connect, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import type { Knex } from 'knex';
import { parseConfig } from '../../src/config/load';
import type { DatabaseConfig } from '../../src/config/schema';
import { pingDatabase } from '../../src/db/connect';
import type { Sleep } from '../../src/db/wait';
import { migrationStatus } from '../helpers/migrations';
import { createLogger } from '../../src/logger';
import { launchService, type LaunchedService, type ServiceOptions } from '../../src/service';
import { forEachTestDatabase, type TestDatabase } from '../helpers/databases';
import { eventually } from '../helpers/cli';

/**
 * `serve` started before its database: it listens at once, answers 503 while it retries, and
 * once the database answers it migrates and serves the REST API. On SQLite the database's
 * absence is played by the ping (injected); on the servers by a TCP proxy that starts late.
 */

function capturingLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter((l) => l !== ''));
      done();
    },
  });
  return { logger: createLogger('info', stream), lines };
}

/** Forwards 127.0.0.1:<port> to `target` once started; until then nothing listens there. */
async function lateProxy(target: URL): Promise<{ url: string; start(): Promise<void>; close(): Promise<void> }> {
  const reserve = createServer();
  await new Promise<void>((resolve) => reserve.listen(0, '127.0.0.1', resolve));
  const { port } = reserve.address() as { port: number };
  await new Promise((resolve) => reserve.close(resolve));
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const proxied = new URL(target);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(port);
  return {
    url: proxied.toString(),
    start: async () => {
      server = createServer((client) => {
        const upstream = connect(Number(target.port), target.hostname);
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.on('close', () => sockets.delete(socket));
          socket.on('error', () => undefined);
        }
        client.pipe(upstream).pipe(client);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
      await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      if (server) await new Promise((resolve) => server!.close(resolve));
    },
  };
}

/** How each database is made absent, then present. */
async function absentDatabase(db: TestDatabase): Promise<{ apimDb: DatabaseConfig; options: Pick<ServiceOptions, 'ping'>; arrive(): Promise<void>; cleanup(): Promise<void> }> {
  if (db.kind === 'sqlite') {
    let present = false;
    const ping = async (knex: Knex) => {
      if (!present) throw Object.assign(new Error('connect ECONNREFUSED (played by the test)'), { code: 'ECONNREFUSED' });
      await pingDatabase(knex);
    };
    return { apimDb: db.config, options: { ping }, arrive: async () => void (present = true), cleanup: async () => undefined };
  }
  const proxy = await lateProxy(new URL(db.config.url!));
  return { apimDb: { ...db.config, url: proxy.url }, options: {}, arrive: () => proxy.start(), cleanup: () => proxy.close() };
}

forEachTestDatabase((_kind, db) => {
  it('answers 503 while the database is absent, then migrates and serves once it answers', async () => {
    const absent = await absentDatabase(db());
    const { logger, lines } = capturingLogger();
    const config = parseConfig({ database: { apim_db: absent.apimDb }, auth: { jwt: { secret: 'serve-waits-0123456789' } } }, {}, 'test');
    let service: LaunchedService | undefined;
    try {
      service = await launchService({ config, logger, port: 0, backoff: { firstDelayMs: 10, maxDelayMs: 50 }, ...absent.options });
      const attempts = () => lines.filter((line) => line.includes('"database is not reachable; retrying"'));
      await eventually('a failed attempt logged', () => attempts().length >= 1);

      const down = await fetch(`${service.url}/health`);
      expect(down.status).toBe(503);
      expect(await down.json()).toEqual({ status: 'DOWN', database: 'DOWN' });
      const early = await fetch(`${service.url}/api/am/devportal/v3/applications`);
      expect(early.status).toBe(503);
      expect(await early.json()).toMatchObject({ code: 503, message: 'Service Unavailable' });

      await absent.arrive();
      expect(await service.ready).toBe('ready');
      expect((await migrationStatus(service.db)).pending).toEqual([]);
      const up = await fetch(`${service.url}/health`);
      expect(up.status).toBe(200);
      expect(await up.json()).toEqual({ status: 'UP', database: 'UP' });
      // The API now answers for itself: no token, so 401 rather than "starting".
      const served = await fetch(`${service.url}/api/am/devportal/v3/applications`);
      expect(served.status).toBe(401);
      expect(lines.some((line) => line.includes('"meterline is ready"'))).toBe(true);
      expect(lines.join('\n')).not.toMatch(/\\n\s+at /);
    } finally {
      await service?.close();
      await absent.cleanup();
    }
  });

  it('close() during the retries stops them and reports closed', async () => {
    const absent = await absentDatabase(db());
    const { logger, lines } = capturingLogger();
    const config = parseConfig({ database: { apim_db: absent.apimDb } }, {}, 'test');
    try {
      // A delay that never ends by itself: only close() (its abort) can end it, so this test
      // hangs, rather than passes late, if the shutdown waited for the delay.
      const sleeps: Array<{ ms: number; aborted: boolean }> = [];
      const sleep: Sleep = (ms, signal) =>
        new Promise((_resolve, reject) => {
          const entry = { ms, aborted: false };
          sleeps.push(entry);
          signal.addEventListener('abort', () => {
            entry.aborted = true;
            reject(signal.reason);
          });
        });
      const service = await launchService({ config, logger, port: 0, sleep, ...absent.options });
      await eventually('the first delay started', () => sleeps.length === 1);
      await service.close();
      expect(await service.ready).toBe('closed');
      expect(sleeps).toEqual([{ ms: 1_000, aborted: true }]);
      expect(lines.filter((line) => line.includes('"database is not reachable; retrying"'))).toHaveLength(1);
      await expect(fetch(`${service.url}/health`)).rejects.toThrow();
    } finally {
      await absent.cleanup();
    }
  });
});
