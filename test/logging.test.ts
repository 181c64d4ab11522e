import { parseConfig } from '../src/config/load';
import { configuredLogger } from '../src/composition';
import { Writable } from 'node:stream';
import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stripeCapabilities } from '../plugins/stripe/capabilities';
import { errorHandler } from '../src/http/errors';
import { createLogger, type Logger } from '../src/logger';
import { forEachTestDatabase } from './helpers/databases';

/**
 * Logs never hold the values a request bound into SQL, nor secrets: a database error is logged
 * with the driver's code and a message without the statement or the value, on every database
 * (knex puts the statement in front of the driver's message; mysql2 adds `sql` with the values
 * inlined; PostgreSQL's `detail` quotes them; some driver messages quote the value themselves).
 * Through the app's error handler too, where a value the database refuses is answered 400.
 */
const MARKER = 'SECRET-MARKER-123';

function capturingLogger(): { logger: Logger; output: () => string } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger('debug', stream), output: () => lines.join('') };
}

function logLines(text: string): Array<Record<string, unknown>> {
  return text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
}

forEachTestDatabase((kind, database) => {
  const table = 'ML_LOGGING_PROBE';
  beforeAll(async () => {
    await database().knex.schema.createTable(table, (t) => {
      t.string('SHORT_TEXT', 10);
      t.string('UNIQUE_TEXT', 100).unique({ indexName: 'ML_LOGGING_PROBE_UK' });
      t.integer('AMOUNT');
    });
    await database().knex(table).insert({ UNIQUE_TEXT: `${MARKER}-taken` });
  });
  afterAll(() => database().knex.schema.dropTableIfExists(table));

  const failureOf = async (row: Record<string, unknown>): Promise<unknown> => {
    try {
      await database().knex(table).insert(row);
    } catch (error) {
      return error;
    }
    return undefined;
  };

  // SQLite does not enforce a column's length, so there is no such error to log there: the case is
  // declared only for the server databases (not skipped on SQLite, simply not applicable).
  const serverDatabase = (name: string, test: () => Promise<void>) => (kind === 'sqlite' ? undefined : it(name, test));
  const expectedCode = { sqlite: 'SQLITE_CONSTRAINT_UNIQUE', postgres: '22001', mysql: 'ER_DATA_TOO_LONG' }[kind];

  serverDatabase('a value too long for its column: the log has the driver code, not the value or the statement', async () => {
    const error = await failureOf({ SHORT_TEXT: `${MARKER}-too-long` });
    expect(error).toMatchObject({ message: expect.any(String) }); // not instanceof: a native driver may build it in another jest realm
    expect((error as Error).message).not.toContain(MARKER); // knex's message holds placeholders only
    const { logger, output } = capturingLogger();
    logger.error({ err: error }, 'insert failed');
    expect(output()).not.toContain(MARKER);
    expect(output()).not.toMatch(/insert into/i);
    const [line] = logLines(output());
    expect(line!.err).toMatchObject({ code: expectedCode, message: expect.stringMatching(/too long/i) });
    expect(line!.err).not.toHaveProperty('stack');
  });

  it('a unique violation: the constraint is named, the duplicate value is not', async () => {
    const error = await failureOf({ UNIQUE_TEXT: `${MARKER}-taken` });
    expect(error).toMatchObject({ message: expect.any(String) }); // not instanceof: a native driver may build it in another jest realm
    const { logger, output } = capturingLogger();
    logger.error({ error }, 'insert failed');
    expect(output()).not.toContain(MARKER);
    expect(output()).not.toMatch(/insert into/i);
    const code = { sqlite: 'SQLITE_CONSTRAINT_UNIQUE', postgres: '23505', mysql: 'ER_DUP_ENTRY' }[kind];
    expect(logLines(output())[0]!.error).toMatchObject({ code });
    expect(output().toLowerCase()).toMatch(/ml_logging_probe(_uk|\.unique_text)/);
  });

  it('a value of the wrong type: the driver quotes it, the log does not', async () => {
    const error = await failureOf({ AMOUNT: MARKER });
    if (kind === 'sqlite') return expect(error).toBeUndefined(); // SQLite stores it as text
    const { logger, output } = capturingLogger();
    logger.warn({ failure: error }, 'insert failed');
    logger.warn({ failure: (error as Error).message }, 'insert failed, as text');
    expect(output()).not.toContain(MARKER);
    expect(logLines(output())).toHaveLength(2);
    if (kind === 'mysql') expect(output()).toContain('`AMOUNT`'); // identifiers stay: the column is named
  });

  describe("the app's error handler", () => {
    let server: Server;
    let url: string;
    const captured = capturingLogger();
    beforeAll(async () => {
      const app = express();
      app.post('/probe/:column', async (req, res) => {
        await database().knex(table).insert({ [req.params.column]: `${MARKER}-${'x'.repeat(20)}-taken` });
        res.status(201).end();
      });
      app.use(errorHandler(captured.logger));
      server = app.listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise((resolve) => server.close(resolve)));

    serverDatabase('a value the database refuses as too long is 400, logged with its code and without the value', async () => {
      const response = await fetch(`${url}/probe/SHORT_TEXT`, { method: 'POST' });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ code: 400, description: expect.stringMatching(/longer than Meterline can store/) });
      const line = logLines(captured.output()).find((l) => l.problem === 'VALUE_TOO_LONG');
      expect(line?.err).toMatchObject({ code: expectedCode });
      expect(captured.output()).not.toContain(MARKER);
    });

    it('an unexpected database error is a bare 500, logged with its code and without the value or the statement', async () => {
      await database().knex(table).insert({ UNIQUE_TEXT: `${MARKER}-${'x'.repeat(20)}-taken` });
      const response = await fetch(`${url}/probe/UNIQUE_TEXT`, { method: 'POST' });
      expect(response.status).toBe(500);
      expect(await response.text()).not.toContain(MARKER);
      const line = logLines(captured.output()).find((l) => l.msg === 'unexpected error');
      expect(line?.err).toMatchObject({ code: { sqlite: 'SQLITE_CONSTRAINT_UNIQUE', postgres: '23505', mysql: 'ER_DUP_ENTRY' }[kind] });
      expect(captured.output()).not.toContain(MARKER);
      expect(captured.output()).not.toMatch(/insert into/i);
    });
  });
});

describe('secrets in logged objects and messages', () => {
  const secrets = {
    jwt: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl',
    stripeKey: 'sk_live_51Habcdefghijkl',
    restrictedKey: 'rk_test_abcdef123456',
    webhookSecret: 'whsec_abcdef123456',
    password: 'db-pass-word-9',
  };

  it('are masked by field name, by shape, and in URLs, wherever they are logged', () => {
    const { logger, output } = capturingLogger();
    logger.info(
      {
        req: { headers: { authorization: `Bearer ${secrets.jwt}`, cookie: `meterline_devportal=${secrets.jwt}` } },
        tenant: { billing_engine_platform_account_key: secrets.stripeKey, stripe_webhook_secret: secrets.webhookSecret },
        database: { url: `postgres://app:${secrets.password}@db.internal:5432/apim`, password: secrets.password },
        note: `retrying with ${secrets.restrictedKey}`,
      },
      `calling with Bearer ${secrets.jwt} and ${secrets.stripeKey}`,
    );
    logger.error({ err: new Error(`could not reach mysql://root:${secrets.password}@db/apim with ${secrets.webhookSecret}`) }, 'failed');
    for (const secret of Object.values(secrets)) expect(output()).not.toContain(secret);
    const [first, second] = logLines(output());
    expect(first).toMatchObject({ database: { url: 'postgres://app:[redacted]@db.internal:5432/apim' } });
    expect(first!.msg).toBe('calling with Bearer [redacted] and [redacted]');
    expect(second!.err).toMatchObject({ type: 'Error', message: 'could not reach mysql://root:[redacted]@db/apim with [redacted]' });
  });

  it("redacts the billing engine's per-tenant secrets by the names the engine declares, whatever their shape", () => {
    const lines: string[] = [];
    const stream = { write: (line: string) => void lines.push(line) };
    const logger = createLogger('info', stream, { secretFields: stripeCapabilities.tenantSecrets.map((s) => s.key) });
    logger.info({ tenant: { stripe_webhook_secret: 'no-recognisable-shape-42' } }, 'tenant');
    expect(lines.join('')).not.toContain('no-recognisable-shape-42');
    expect(logLines(lines.join(''))[0]).toMatchObject({ tenant: { stripe_webhook_secret: '[redacted]' } });
  });

  it("the process's logger (configuredLogger) redacts the secret names its tenants' settings hold", () => {
    const lines: string[] = [];
    const stream = { write: (line: string) => void lines.push(line) };
    const config = parseConfig({ tenants: [{ domain: 'carbon.super', id: -1234, monetization_info: { stripe_webhook_secret: 'shapeless-7' } }] }, {}, 'test');
    configuredLogger(config, stream).info({ settings: { stripe_webhook_secret: 'shapeless-7' } }, 'tenant');
    expect(lines.join('')).not.toContain('shapeless-7');
    expect(logLines(lines.join(''))[0]).toMatchObject({ settings: { stripe_webhook_secret: '[redacted]' } });
  });

  it('keeps what is not a secret: codes, ids, plain URLs', () => {
    const { logger, output } = capturingLogger();
    logger.info({ url: 'http://127.0.0.1:9763', runId: 'run-1', err: Object.assign(new Error('engine refused'), { code: 'resource_missing', statusCode: 404 }) }, 'ok');
    expect(logLines(output())[0]).toMatchObject({ url: 'http://127.0.0.1:9763', runId: 'run-1', err: { message: 'engine refused', code: 'resource_missing', statusCode: 404 } });
  });
});
