import type { Knex } from 'knex';
import { upsertRow } from '../db/upsert';
import { chunks } from './apis.repository';

export interface ApiMonetizationState {
  enabled: boolean;
  properties: Record<string, string>;
}

/**
 * ML_API_MONETIZATION, the one module that reads and writes it: whether an API is monetized and
 * with which properties (WSO2 keeps this in the API artifact). Written by the core after the
 * engine succeeded; engines read it through the engine port (core-records.ts).
 */
export class ApiMonetizationStateRepository {
  constructor(private readonly db: Knex) {}

  async get(apiId: number): Promise<ApiMonetizationState | undefined> {
    const row = await this.db('ML_API_MONETIZATION').where({ API_ID: apiId }).first('ENABLED', 'PROPERTIES');
    return row ? toState(row) : undefined;
  }

  /** The saved state of each of these APIs that has one. */
  async ofApis(apiIds: readonly number[]): Promise<Map<number, ApiMonetizationState>> {
    const states = new Map<number, ApiMonetizationState>();
    for (const ids of chunks([...new Set(apiIds)])) {
      const rows = await this.db('ML_API_MONETIZATION').whereIn('API_ID', ids).select('API_ID', 'ENABLED', 'PROPERTIES');
      for (const row of rows) states.set(Number(row.API_ID), toState(row));
    }
    return states;
  }

  async save(apiId: number, state: ApiMonetizationState): Promise<void> {
    const values = { ENABLED: state.enabled ? 1 : 0, PROPERTIES: JSON.stringify(state.properties) };
    await upsertRow(this.db, 'ML_API_MONETIZATION', { API_ID: apiId }, values);
  }
}

function toState(row: Record<string, unknown>): ApiMonetizationState {
  return { enabled: Number(row.ENABLED) === 1, properties: parseProperties(row.PROPERTIES) };
}

/**
 * The one parser of ML_API_MONETIZATION.PROPERTIES: a JSON object of strings. Other values are
 * dropped; text that is not a JSON object (a row written by hand) reads as no properties.
 */
export function parseProperties(text: unknown): Record<string, string> {
  if (typeof text !== 'string' || text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
  return Object.fromEntries(Object.entries(parsed).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}
