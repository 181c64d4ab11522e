import type { NotificationEvent } from '../events';

export interface Fact {
  readonly name: string;
  readonly value: string;
}

/** An event's data as name/value text for message cards and e-mails, in the emitter's order. */
export function eventFacts(event: NotificationEvent): Fact[] {
  return Object.entries(event.data).map(([name, value]) => ({ name, value: value === null ? '—' : String(value) }));
}

/** The line under the title: what kind of event, for which tenant, when (UTC, ISO 8601). */
export function eventContext(event: NotificationEvent): string {
  return `${event.type} · ${event.tenantDomain} · ${event.occurredAt.toISOString()}`;
}
