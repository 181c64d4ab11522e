import type { Knex } from 'knex';
import { upsertRow } from '../db/upsert';

export interface ApiMonetizationState {
  enabled: boolean;
  properties: Record<string, string>;
}

/**
 * Whether an API is monetized and with which properties (WSO2 keeps this in the API artifact;
 * Meterline in ML_API_MONETIZATION). Written by the core after the engine succeeded.
 */
export class ApiMonetizationStateRepository {
  constructor(private readonly db: Knex) {}

  async get(apiId: number): Promise<ApiMonetizationState | undefined> {
    const row = await this.db('ML_API_MONETIZATION').where({ API_ID: apiId }).first('ENABLED', 'PROPERTIES');
    if (!row) return undefined;
    return { enabled: Number(row.ENABLED) === 1, properties: parseProperties(row.PROPERTIES) };
  }

  async save(apiId: number, state: ApiMonetizationState): Promise<void> {
    const values = { ENABLED: state.enabled ? 1 : 0, PROPERTIES: JSON.stringify(state.properties) };
    await upsertRow(this.db, 'ML_API_MONETIZATION', { API_ID: apiId }, values);
  }
}

function parseProperties(text: unknown): Record<string, string> {
  if (typeof text !== 'string' || text === '') return {};
  const parsed = JSON.parse(text) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(parsed).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}
