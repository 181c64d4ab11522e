/**
 * What the spend-limit routes need of src/spend (which http may not import): the composition root
 * passes the spend-limit service. The caller's right to the subscription is checked by the route
 * (through apim) before any of these is called. Shapes are plain data, as the routes answer them.
 */
export type SpendLimitSetter = 'SUBSCRIBER' | 'PUBLISHER';

export interface SpendLimitInput {
  /** Exact decimal in the plan currency's major unit ("50.00"). */
  amount: string;
  thresholds: number[];
  hardCap: boolean;
}

/** The answer of every spend-limit route: both parties' limits, what applies, and the period's spend. */
export interface SpendLimitDto {
  subscriptionId: string;
  currency: string;
  limits: Array<{ setBy: 'subscriber' | 'publisher'; amount: string; thresholds: number[]; hardCap: boolean; updatedBy: string; updatedTime: string }>;
  applied: {
    alerts: { setBy: 'subscriber' | 'publisher'; amount: string; thresholds: number[] } | null;
    hardCap: { setBy: 'subscriber' | 'publisher'; amount: string } | null;
  };
  period: {
    start: string;
    end: string;
    calls: number;
    spent: string;
    /** The applied alert limit's thresholds the period's spend has reached now. */
    thresholdsReached: number[];
    /** The thresholds already notified this period (each once, whichever limit applied then). */
    thresholdsNotified: number[];
    capped: boolean;
    cappedTime: string | null;
    reason: string | null;
  };
}

export type SpendLimitAnswer =
  | { outcome: 'done'; limit: SpendLimitDto }
  /** The subscription has no rated spend: its plan is not COMMERCIAL, or the engine does not bill it (409). */
  | { outcome: 'notPriced'; message: string }
  /** The amount does not fit the plan's currency (400 naming `amount`). */
  | { outcome: 'invalidAmount'; message: string };

export interface SpendLimitsPort {
  show(subscriptionUuid: string): Promise<SpendLimitAnswer>;
  set(subscriptionUuid: string, setBy: SpendLimitSetter, input: SpendLimitInput, updatedBy: string): Promise<SpendLimitAnswer>;
  remove(subscriptionUuid: string, setBy: SpendLimitSetter): Promise<SpendLimitAnswer>;
}
