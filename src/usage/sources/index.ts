import { UsageOptionsError } from '../options';
import { LocalEventSource } from './local-source';
import type { UsageSource, UsageSourceContext } from './usage-source';

export type { HourlyUsage, PositionRange, SliceUsage, UsageSlice, UsageSource, UsageSourceContext } from './usage-source';
export { LocalEventSource } from './local-source';

/**
 * The usage sources by configured name. To add one (e.g. `choreo`): write a class implementing
 * `UsageSource` in this folder, with a static `identifier`, and register its factory here; its
 * options, if any, get their own table in the config schema beside `source`.
 */
const factories: Record<string, (context: UsageSourceContext) => UsageSource> = {
  [LocalEventSource.identifier]: (context) => new LocalEventSource(context),
};

export const USAGE_SOURCE_NAMES: readonly string[] = Object.keys(factories);

export function createUsageSource(name: string, context: UsageSourceContext): UsageSource {
  const factory = factories[name];
  if (!factory) {
    throw new UsageOptionsError(`apim.monetization.usage_publisher.source: unknown usage source "${name}" (known: ${USAGE_SOURCE_NAMES.join(', ')})`);
  }
  return factory(context);
}
