import { z } from 'zod';
import { GatewayError } from '../../../apim/errors';
import type { RouteResult } from '../../route';
import type { SpendLimitAnswer, SpendLimitsPort } from './spend-limits-port';

/** The default thresholds (percent of the amount) when the body names none. */
const DEFAULT_THRESHOLDS = [50, 80, 100];

/**
 * PUT body of both spend-limit routes. `amount` is a string (an exact decimal, never a float) in
 * the plan currency's major unit; its decimal places are checked against the currency (400 naming
 * `amount`). `thresholds`: whole percentages 1..100, unique, ascending.
 */
export const spendLimitBody = z.strictObject({
  amount: z.string().regex(/^\d{1,15}(\.\d{1,3})?$/, 'must be a decimal amount in the major unit, as a string, e.g. "50.00"'),
  thresholds: z
    .array(z.number().int().min(1).max(100))
    .min(1)
    .max(20)
    .refine((list) => list.every((value, i) => i === 0 || value > list[i - 1]!), 'must be unique and in ascending order')
    .default(DEFAULT_THRESHOLDS),
  hardCap: z.boolean().default(false),
});

/** The port, or 404 when this process has no spend limits (an app composed without them). */
export function spendLimitsOf(port: SpendLimitsPort | undefined): SpendLimitsPort {
  if (!port) throw new GatewayError('NOT_FOUND', 'Spend limits are not available here');
  return port;
}

/** A port answer as the route's result: 200 with the limit, or the error naming what is wrong. */
export function spendLimitResult(answer: SpendLimitAnswer): RouteResult {
  switch (answer.outcome) {
    case 'done':
      return { status: 200, body: answer.limit };
    case 'invalidAmount':
      throw GatewayError.invalid('amount', answer.message);
    case 'notPriced':
      throw new GatewayError('CONFLICT', answer.message);
  }
}
