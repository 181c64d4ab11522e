import type { PolicyRecord } from '../../apim/model';

/** Each time unit in milliseconds: WSO2's `ThrottlingPolicy.unitTime` is the quota window in ms (60000 for "1 min"). */
const MS_PER: Readonly<Record<string, number>> = { sec: 1_000, min: 60_000, hour: 3_600_000, day: 86_400_000, month: 2_592_000_000, year: 31_536_000_000 };

/**
 * The quota of a subscription policy as WSO2's `ThrottlingPolicy` (publisher and devportal) gives
 * it: a bandwidth limit's data amount and an event limit's count in `requestCount`, the window in
 * milliseconds, and the quota type. Burst control is the gateway's: answered as WSO2's default.
 */
export function throttlingQuotaFields(limit: PolicyRecord['limit']) {
  const count = limit.type === 'REQUESTCOUNTLIMIT' ? limit.requestCount : limit.type === 'BANDWIDTHLIMIT' ? limit.dataAmount : limit.eventCount;
  return {
    requestCount: count,
    ...(limit.type === 'BANDWIDTHLIMIT' ? { dataUnit: limit.dataUnit } : {}),
    unitTime: limit.unitTime * (MS_PER[limit.timeUnit] ?? 1),
    timeUnit: limit.timeUnit,
    rateLimitCount: 0,
    ...(limit.type === 'EVENTCOUNTLIMIT' ? {} : { quotaPolicyType: limit.type === 'BANDWIDTHLIMIT' ? 'BANDWIDTHVOLUME' : 'REQUESTCOUNT' }),
  };
}
