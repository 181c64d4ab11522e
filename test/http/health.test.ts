import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load';
import { connectDatabase } from '../../src/db/connect';
import { createApp } from '../../src/http/app';
import { listen } from '../../src/http/server';
import { createLogger } from '../../src/logger';
import { startService } from '../../src/service';

const logger = createLogger('silent');

function sqliteFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'meterline-health-')), 'apim.db');
}

describe('GET /health', () => {
  it('is UP when the database answers', async () => {
    const config = parseConfig({ database: { apim_db: { filename: sqliteFile() } } }, {}, 'test');
    const service = await startService({ config, logger, port: 0 });
    try {
      const response = await fetch(`${service.url}/health`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ status: 'UP', database: 'UP' });
    } finally {
      await service.close();
    }
  });

  it('is 503 DOWN when the database does not answer', async () => {
    const config = parseConfig({ database: { apim_db: { filename: sqliteFile() } } }, {}, 'test');
    const db = connectDatabase(config.database.apim_db);
    await db.destroy(); // a pool that can no longer hand out connections
    const http = await listen(createApp({ db, logger }), '127.0.0.1', 0);
    try {
      const response = await fetch(`${http.url}/health`);
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({ status: 'DOWN', database: 'DOWN' });
    } finally {
      await http.close();
    }
  });

  it('unknown paths get a JSON 404 in WSO2 error shape', async () => {
    const config = parseConfig({ database: { apim_db: { filename: sqliteFile() } } }, {}, 'test');
    const service = await startService({ config, logger, port: 0 });
    try {
      const response = await fetch(`${service.url}/nope`);
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ code: 404, message: 'Not Found' });
    } finally {
      await service.close();
    }
  });
});
