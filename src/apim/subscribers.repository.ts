import type { Knex } from 'knex';
import type { TenantRef } from '../domain/model';
import { isUniqueViolation } from '../db/errors';
import { insertReturningId } from '../db/insert-returning-id';
import { chunks } from './apis.repository';
import type { SubscriberRecord } from './model';

/** AM_SUBSCRIBER: the developer-portal users, one row per (tenant, user). */
export class SubscribersRepository {
  constructor(private readonly db: Knex) {}

  async find(tenant: TenantRef, userId: string): Promise<SubscriberRecord | undefined> {
    const row = await this.db('AM_SUBSCRIBER').where({ TENANT_ID: tenant.id, USER_ID: userId }).first('SUBSCRIBER_ID', 'EMAIL_ADDRESS');
    if (!row) return undefined;
    return { id: Number(row.SUBSCRIBER_ID), userId, email: row.EMAIL_ADDRESS === null ? null : String(row.EMAIL_ADDRESS), tenant };
  }

  async idOf(userId: string, tenantId: number): Promise<number | undefined> {
    const row = await this.db('AM_SUBSCRIBER').where({ TENANT_ID: tenantId, USER_ID: userId }).first('SUBSCRIBER_ID');
    return row ? Number(row.SUBSCRIBER_ID) : undefined;
  }

  /** Subscribers by id; ids without a subscriber are left out. */
  async byIds(subscriberIds: readonly number[]): Promise<Map<number, { userId: string; email: string | null; tenantId: number }>> {
    const users = new Map<number, { userId: string; email: string | null; tenantId: number }>();
    for (const ids of chunks([...new Set(subscriberIds)])) {
      const rows = await this.db('AM_SUBSCRIBER').whereIn('SUBSCRIBER_ID', ids).select('SUBSCRIBER_ID', 'USER_ID', 'EMAIL_ADDRESS', 'TENANT_ID');
      for (const row of rows) {
        const email = row.EMAIL_ADDRESS === null || row.EMAIL_ADDRESS === undefined ? null : String(row.EMAIL_ADDRESS);
        users.set(Number(row.SUBSCRIBER_ID), { userId: String(row.USER_ID), email, tenantId: Number(row.TENANT_ID) });
      }
    }
    return users;
  }

  /** The subscriber row, created on first use; a concurrent creation of the same row is reused. */
  async ensure(tenant: TenantRef, userId: string, email: string | null, now: string): Promise<SubscriberRecord> {
    const existing = await this.find(tenant, userId);
    if (existing) return existing;
    try {
      const id = await insertReturningId(
        this.db,
        'AM_SUBSCRIBER',
        { USER_ID: userId, TENANT_ID: tenant.id, EMAIL_ADDRESS: email, DATE_SUBSCRIBED: now, CREATED_BY: userId, CREATED_TIME: now },
        'SUBSCRIBER_ID',
      );
      return { id, userId, email, tenant };
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      const concurrent = await this.find(tenant, userId);
      if (concurrent) return concurrent;
      throw error;
    }
  }
}
