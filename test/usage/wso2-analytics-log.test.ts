import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { configSchema } from '../../src/config/schema';
import { createLogger } from '../../src/logger';
import { SourcePositions } from '../../src/usage/source-positions';
import { createUsageSource, LogFedSource, parseMetricsLine, usageEventOf, Wso2AnalyticsLog, type LogReadReport } from '../../src/usage/sources';
import { UsageOptionsError } from '../../src/usage/options';
import { migrateLatest } from '../helpers/migrations';
import { forEachTestDatabase } from '../helpers/databases';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { minutesAfter, monetizedWorld, newUsageService, publishAndWait, type BilledSubscription } from './world';
import { STORY_START } from '../helpers/test-clock';

/**
 * Lines shaped as WSO2 API-M 4.x writes them with ELK analytics on (`[apim.analytics] type = "elk"`):
 * log4j2's APIM_METRICS_APPENDER, layout `%d{HH:mm:ss,SSS} [%X{ip}-%X{host}] [%t] %5p %c{1} %m%n`,
 * and ELKCounterMetric's message `apimMetrics: <metric>, properties :<JSON>`. The appender and the
 * layout: https://apim.docs.wso2.com/en/latest/api-analytics/on-prem/elk-installation-guide/ (Step 1.2);
 * the sample line and its fields (apiName ... apiType, properties): WSO2's ELK/Datadog analytics
 * guides of the same docs (a `apim:response` sample, "08:23:34,898 [-] [PassThroughMessageProcessor-188]
 * INFO ELKCounterMetric apimMetrics: apim:response, properties :{...}").
 */
const SAMPLE_LINE =
  '08:23:34,898 [-] [PassThroughMessageProcessor-188]  INFO ELKCounterMetric apimMetrics: apim:response, properties :{"apiName":"PizzaShackAPI","proxyResponseCode":200,"destination":"https://localhost:9443/am/sample/pizzashack/v1/api/","apiCreatorTenantDomain":"carbon.super","platform":"Other","apiMethod":"GET","apiVersion":"1.0.0","gatewayType":"SYNAPSE","apiCreator":"admin","responseCacheHit":false,"backendLatency":3,"correlationId":"02951f10-5934-456d-b608-7cd85b3f7c9d","requestMediationLatency":1,"keyType":"SANDBOX","apiId":"af88b5f8-594a-4f57-a729-7eb86b6a63ab","applicationName":"DefaultApplication","targetResponseCode":200,"requestTimestamp":"2022-12-15T02:53:34.894Z","applicationOwner":"admin","userAgent":"curl","userName":"admin@carbon.super","apiResourceTemplate":"/menu","responseLatency":4,"regionId":"default","responseMediationLatency":0,"userIp":"127.0.0.1","apiContext":"/pizzashack/1.0.0","applicationId":"87c8da4c-aa3f-43d3-89ac-dc3dc3b19d3e","apiType":"HTTP","properties":{}}';

function layoutPrefix(at: Date): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}:${pad(at.getUTCSeconds())},${pad(at.getUTCMilliseconds(), 3)} [-] [PassThroughMessageProcessor-${12 + (at.getTime() % 200)}]  INFO ELKCounterMetric`;
}

/** An `apim:response` line of subscription `s`'s application calling its API at `at`. */
function responseLine(s: BilledSubscription, at: Date, overrides: Record<string, unknown> = {}): string {
  const api = s.subscription.api;
  const properties = {
    apiName: 'Weather',
    proxyResponseCode: 200,
    destination: 'https://backend.example/weather',
    apiCreatorTenantDomain: api.tenant.domain,
    platform: 'Linux',
    apiMethod: 'GET',
    apiVersion: '1.0.0',
    gatewayType: 'SYNAPSE',
    apiCreator: 'admin',
    responseCacheHit: false,
    backendLatency: 12,
    correlationId: randomUUID(),
    requestMediationLatency: 1,
    keyType: 'PRODUCTION',
    apiId: api.uuid,
    applicationName: 'App',
    targetResponseCode: 200,
    requestTimestamp: at.toISOString(),
    applicationOwner: 'admin',
    userAgent: 'curl',
    userName: 'admin@carbon.super',
    apiResourceTemplate: '/today',
    responseLatency: 15,
    regionId: 'default',
    responseMediationLatency: 0,
    userIp: '127.0.0.1',
    apiContext: '/weather/1.0.0',
    applicationId: s.subscription.application.uuid,
    apiType: 'HTTP',
    properties: {},
    ...overrides,
  };
  return `${layoutPrefix(at)} apimMetrics: apim:response, properties :${JSON.stringify(properties)}\n`;
}

/** An `apim:faulty` line (e.g. the backend unreachable): errorType, errorCode, errorMessage instead of latencies. */
function faultyLine(s: BilledSubscription, at: Date): string {
  const properties = {
    apiName: 'Weather', apiCreatorTenantDomain: s.subscription.api.tenant.domain, errorType: 'TARGET_CONNECTIVITY', apiMethod: 'GET', apiVersion: '1.0.0',
    errorCode: 101503, apiCreator: 'admin', correlationId: randomUUID(), errorMessage: 'TARGET_CONNECTIVITY', keyType: 'PRODUCTION', apiId: s.subscription.api.uuid,
    regionId: 'default', applicationId: s.subscription.application.uuid, requestTimestamp: at.toISOString(), proxyResponseCode: 503, targetResponseCode: 0, apiType: 'HTTP', properties: {},
  };
  return `${layoutPrefix(at)} apimMetrics: apim:faulty, properties :${JSON.stringify(properties)}\n`;
}

const EMPTY: LogReadReport = { files: 0, lines: 0, billable: 0, notBillable: {}, duplicates: 0, rejected: 0, faulty: 0, sandbox: 0, malformed: 0, other: 0 };

describe('reading apim_metrics.log lines', () => {
  it("reads WSO2's documented sample line: metric, and the fields usage needs", () => {
    const parsed = parseMetricsLine(SAMPLE_LINE);
    expect(parsed).toMatchObject({ kind: 'metric', metric: 'apim:response', properties: { correlationId: '02951f10-5934-456d-b608-7cd85b3f7c9d', apiId: 'af88b5f8-594a-4f57-a729-7eb86b6a63ab' } });
    const properties = (parsed as { properties: Record<string, unknown> }).properties;
    // The sample was sent with a SANDBOX key: test traffic, not billed.
    expect(usageEventOf(properties)).toEqual({ sandbox: true });
    expect(usageEventOf({ ...properties, keyType: 'PRODUCTION' })).toEqual({
      event: {
        eventId: '02951f10-5934-456d-b608-7cd85b3f7c9d',
        timestamp: Date.UTC(2022, 11, 15, 2, 53, 34, 894),
        apiId: 'af88b5f8-594a-4f57-a729-7eb86b6a63ab',
        applicationId: '87c8da4c-aa3f-43d3-89ac-dc3dc3b19d3e',
        httpStatus: 200,
        tenant: 'carbon.super',
      },
    });
  });

  it('tells other log output and unreadable metric lines apart', () => {
    expect(parseMetricsLine('08:23:34,898 [-] [main]  INFO CarbonCoreActivator Starting WSO2 Carbon...')).toEqual({ kind: 'other' });
    expect(parseMetricsLine(SAMPLE_LINE.slice(0, -20))).toEqual({ kind: 'malformed', problem: 'expected "apimMetrics: <metric>, properties :{...}"' });
    expect(parseMetricsLine(SAMPLE_LINE.replace('"apiName":', '"apiName"'))).toEqual({ kind: 'malformed', problem: 'properties is not valid JSON' });
    const properties = (parseMetricsLine(SAMPLE_LINE) as { properties: Record<string, unknown> }).properties;
    expect(usageEventOf({ ...properties, keyType: 'PRODUCTION', correlationId: undefined, proxyResponseCode: undefined, targetResponseCode: undefined })).toEqual({
      problem: 'missing or not a string/number: correlationId, proxyResponseCode',
    });
  });

  it('the log is read into the event store, so it needs source "local"', () => {
    const context = { db: {} as never, logger: createLogger('silent'), clock: () => new Date(STORY_START * 1000), ingest: async () => ({ accepted: 0, duplicates: 0, rejected: 0, results: [] }) };
    const config = configSchema.parse({ apim: { monetization: { usage_publisher: { wso2_analytics_log: { path: '/opt/wso2am/repository/logs/apim_metrics.log' } } } } });
    const options = config.apim.monetization.usage_publisher;
    const source = createUsageSource(options.source, { ...context, wso2AnalyticsLog: options.wso2_analytics_log });
    expect(source).toBeInstanceOf(LogFedSource);
    expect(source.name).toBe('local');
    expect(() => configSchema.parse({ apim: { monetization: { usage_publisher: { wso2_analytics_log: { path: 'x', pth: 'y' } } } } })).toThrow(/pth/);
    expect(() => createUsageSource('local', { ...context, ingest: undefined, wso2AnalyticsLog: { path: 'x' } } as never)).toThrow(UsageOptionsError);
  });
});

forEachTestDatabase((kind, database) => {
  let server: StripeServer;
  let world: Awaited<ReturnType<typeof monetizedWorld>>;
  let a: BilledSubscription;
  let b: BilledSubscription;
  let t0: Date;
  let dir: string;

  beforeAll(async () => {
    server = await startStripeServer({ port: 0, startAt: Date.UTC(2030, 4, 6, 9, 0, 0) / 1000 });
    await migrateLatest(database().knex);
    t0 = new Date(server.clock.now() * 1000);
    world = await monetizedWorld(server, database().knex, 2);
    [a, b] = world.billed as [BilledSubscription, BilledSubscription];
    server.clock.advance(2 * 3600);
  });
  afterAll(() => server.close());
  beforeEach(async () => {
    for (const table of ['ML_USAGE_EVENT', 'ML_USAGE_SOURCE_POSITION']) await database().knex(table).delete();
    dir = mkdtempSync(path.join(tmpdir(), `wso2-log-${kind}-`));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const logPath = () => path.join(dir, 'apim_metrics.log');
  /** A reader as a (re)started process builds it: nothing in memory, positions from the database. */
  const reader = (chunkBytes?: number) =>
    new Wso2AnalyticsLog({
      path: logPath(),
      positions: new SourcePositions(database().knex),
      ingest: (events, how) => world.usage.ingestion.ingest(events, how),
      logger: createLogger('silent'),
      now: () => world.clock().getTime(),
      ...(chunkBytes ? { chunkBytes } : {}),
    });
  const count = async (where: Record<string, unknown>) => (await database().knex('ML_USAGE_EVENT').where(where).select('SEQ')).length;
  const billableOf = (s: BilledSubscription) => count({ SUBSCRIPTION_UUID: s.subscription.uuid, PUBLISH_STATE: 1 });

  it('bills successful apim:response calls per subscription; faults, sandbox keys, errors and unknown applications are not billed, and each is counted', async () => {
    const lines = [
      responseLine(a, minutesAfter(t0, 1)),
      responseLine(a, minutesAfter(t0, 2)),
      responseLine(b, minutesAfter(t0, 3)),
      '09:03:00,001 [-] [main]  INFO CarbonServerManager WSO2 Carbon started\n',
      responseLine(a, minutesAfter(t0, 4), { proxyResponseCode: 503, targetResponseCode: 503 }),
      responseLine(a, minutesAfter(t0, 5), { proxyResponseCode: 404, targetResponseCode: 404 }),
      faultyLine(a, minutesAfter(t0, 6)),
      responseLine(b, minutesAfter(t0, 7), { keyType: 'SANDBOX' }),
      responseLine(b, minutesAfter(t0, 8), { applicationId: randomUUID(), applicationName: 'NotInMeterline' }),
      responseLine(a, minutesAfter(t0, 9)).replace('"correlationId":', '"correlationID":'),
      responseLine(a, minutesAfter(t0, 10), { requestTimestamp: minutesAfter(t0, -60 * 24 * 40).toISOString() }),
    ];
    writeFileSync(logPath(), lines.join(''));
    expect(await reader().read()).toEqual({
      ...EMPTY,
      files: 1,
      lines: 11,
      billable: 3,
      notBillable: { UNSUCCESSFUL_CALL: 2, UNKNOWN_SUBSCRIPTION: 1 },
      rejected: 1, // older than the engine takes usage: refused, and logged
      faulty: 1,
      sandbox: 1,
      malformed: 1,
      other: 1,
    });
    expect([await billableOf(a), await billableOf(b)]).toEqual([2, 1]);
    // The unknown application's call is stored, not billed, as an ingested one would be.
    expect(await count({ NOT_BILLABLE: 'UNKNOWN_SUBSCRIPTION', PUBLISH_STATE: 0 })).toBe(1);
    expect(await reader().read()).toEqual({ ...EMPTY, files: 1 });
  });

  it('exactly once across restarts: a half-written line waits, and lines read again (a crash before the offset was saved) are duplicates', async () => {
    const [l1, l2, l3, l4] = [1, 2, 3, 4].map((m) => responseLine(a, minutesAfter(t0, m))) as [string, string, string, string];
    writeFileSync(logPath(), l1 + l2 + l3.slice(0, 200));
    expect(await reader(4096).read()).toMatchObject({ lines: 2, billable: 2 });
    appendFileSync(logPath(), l3.slice(200) + l4);
    // A new process (a new reader) goes on where the last one stopped.
    expect(await reader(4096).read()).toMatchObject({ lines: 2, billable: 2, duplicates: 0, malformed: 0 });
    await database().knex('ML_USAGE_SOURCE_POSITION').delete();
    expect(await reader(4096).read()).toMatchObject({ lines: 4, billable: 0, duplicates: 4 });
    expect(await billableOf(a)).toBe(4);
  });

  it('follows rotation: the rotated file is read to its end, then the new file from its start; offsets of deleted files are forgotten', async () => {
    const at = (m: number) => minutesAfter(t0, m);
    writeFileSync(logPath(), responseLine(a, at(1)) + responseLine(a, at(2)));
    expect(await reader().read()).toMatchObject({ files: 1, billable: 2 });
    // Written after the last read, then rolled by log4j2 (rename, new file).
    appendFileSync(logPath(), responseLine(a, at(3)) + responseLine(b, at(4)));
    const rotated = path.join(dir, 'apim_metrics-05-06-2030-1.log');
    renameSync(logPath(), rotated);
    writeFileSync(logPath(), responseLine(b, at(5)) + responseLine(b, at(6)).slice(0, 100));
    writeFileSync(path.join(dir, 'apim_metrics-05-05-2030-1.log.gz'), 'not read: compressed');
    expect(await reader().read()).toMatchObject({ files: 2, lines: 3, billable: 3, duplicates: 0 });
    expect([await billableOf(a), await billableOf(b)]).toEqual([3, 2]);
    const offsets = async () => (await database().knex('ML_USAGE_SOURCE_POSITION').select('SOURCE')).length;
    expect(await offsets()).toBe(2);
    rmSync(rotated);
    expect(await reader().read()).toMatchObject({ files: 1, lines: 0 });
    expect(await offsets()).toBe(1);
  });

  it('a log that cannot be read does not stop publishing: the error is logged and the stored usage settles', async () => {
    const logged: string[] = [];
    const source = createUsageSource('local', {
      db: database().knex,
      logger: createLogger('error', { write: (line: string) => logged.push(line) }),
      clock: world.clock,
      ingest: (events, how) => world.usage.ingestion.ingest(events, how),
      wso2AnalyticsLog: { path: path.join(dir, 'missing', 'apim_metrics.log') },
    });
    await world.usage.ingestion.ingest([{ eventId: randomUUID(), timestamp: minutesAfter(t0, 1).getTime(), apiId: a.subscription.api.uuid, applicationId: a.subscription.application.uuid, subscriptionId: a.subscription.uuid, httpStatus: 200, tenant: a.subscription.api.tenant.domain }]);
    const [stored] = (await database().knex('ML_USAGE_EVENT').select('SEQ')).map((r) => Number(r.SEQ));
    expect(await source.settledPosition()).toBe(stored);
    expect(logged.join('')).toContain('the WSO2 analytics log could not be read');
  });

  it('end to end: lines in the log are billed in Stripe by the next publish, once, through rotations', async () => {
    const usage = newUsageService(database().knex, world.engine, world.clock, { wso2_analytics_log: { path: logPath() } });
    const [beforeA, beforeB] = [await world.billedInStripe(a), await world.billedInStripe(b)];
    writeFileSync(logPath(), [1, 2, 3].map((m) => responseLine(a, minutesAfter(t0, 10 + m))).join('') + responseLine(b, minutesAfter(t0, 14)));
    expect(await publishAndWait(usage)).toMatchObject({ outcome: 'SUCCESSFULL', failures: [] });
    renameSync(logPath(), path.join(dir, 'apim_metrics-05-06-2030-1.log'));
    writeFileSync(logPath(), responseLine(b, minutesAfter(t0, 15)));
    expect(await publishAndWait(usage)).toMatchObject({ outcome: 'SUCCESSFULL', failures: [] });
    expect(await publishAndWait(usage)).toMatchObject({ outcome: 'SUCCESSFULL', recordsSent: 0 });
    expect([(await world.billedInStripe(a)) - beforeA, (await world.billedInStripe(b)) - beforeB]).toEqual([3, 2]);
  });
});
