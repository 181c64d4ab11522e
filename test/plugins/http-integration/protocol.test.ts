import { ASYNC_OPERATIONS, SYNC_OPERATIONS } from '../../../plugins/http-integration/protocol';
import { declaredRequest, sentBodyProblems } from './protocol-schema';

/** The machine-readable protocol covers every operation the engine sends (no database: SQLite-free and fast). */
describe('docs/custom-billing.openapi.yaml', () => {
  it('declares every operation the engine sends, with its request schema', () => {
    expect([...SYNC_OPERATIONS, ...ASYNC_OPERATIONS].filter((type) => typeof declaredRequest(type) === 'string')).toEqual([]);
  });

  it('refuses a body outside the protocol (a field it does not define)', () => {
    const body = { type: 'plan.deleted', timestamp: '2030-01-01T00:00:00Z', data: { tenant: 'carbon.super', policy: { id: 'p', name: 'Gold' }, planCode: 'x' } };
    expect(sentBodyProblems(body)).toEqual([]);
    expect(sentBodyProblems({ ...body, data: { ...body.data, extra: 1 } } as { type: string })).not.toEqual([]);
  });
});
