import { z } from 'zod';
import { EngineOptionsError } from '../../src/monetization/monetization';
import { fieldProblems } from '../../src/validation/issues';

/**
 * MyFatoorah's API origin per region, from "Live Token" (https://docs.myfatoorah.com/docs/live-token):
 * one origin serves Kuwait, Bahrain, Jordan and Oman; Saudi Arabia, the UAE, Qatar and Egypt have
 * their own; `test` is the sandbox of "Test Token" (https://docs.myfatoorah.com/docs/test-token).
 * A token belongs to one country's account ("Each enabled country in your portal account has a
 * different API token key"), so the region must be that account's.
 */
export const REGION_BASE_URLS = {
  kuwait: 'https://api.myfatoorah.com',
  bahrain: 'https://api.myfatoorah.com',
  jordan: 'https://api.myfatoorah.com',
  oman: 'https://api.myfatoorah.com',
  saudi_arabia: 'https://api-sa.myfatoorah.com',
  uae: 'https://api-ae.myfatoorah.com',
  qatar: 'https://api-qa.myfatoorah.com',
  egypt: 'https://api-eg.myfatoorah.com',
  test: 'https://apitest.myfatoorah.com',
} as const;

export type MyFatoorahRegion = keyof typeof REGION_BASE_URLS;

/**
 * `[apim.monetization.myfatoorah]`. `region` picks MyFatoorah's documented origin; `api_base_url`
 * replaces it (the MyFatoorah-compatible local server of tests and the demo). One of them is required:
 * guessing a region would send a live token to the wrong country, or a test token to live.
 */
export const myFatoorahOptionsSchema = z
  .strictObject({
    region: z.enum(Object.keys(REGION_BASE_URLS) as [MyFatoorahRegion, ...MyFatoorahRegion[]]).optional(),
    api_base_url: z
      .string()
      .url()
      .refine((url) => /^https?:\/\//.test(url), 'must be an http(s) URL')
      .optional(),
    /** One request's time limit (ms). Default 30000. */
    timeout_ms: z.number().int().min(1000).max(300_000).default(30_000),
    /**
     * Re-sends of a request that got no answer, a 429 or a 5xx. SendPayment is not idempotent at
     * MyFatoorah, so every re-send of it first looks the invoice up by its customer reference. Default 3.
     */
    retries: z.number().int().min(0).max(10).default(3),
    /** The first wait before a re-send (ms); each further wait doubles, up to `retry_max_delay_ms`. Default 500. */
    retry_initial_delay_ms: z.number().int().min(1).max(60_000).default(500),
    retry_max_delay_ms: z.number().int().min(1).max(300_000).default(8_000),
    /**
     * After a SendPayment got no answer, MyFatoorah may still create its invoice later: no second
     * SendPayment goes out for that invoice until a lookup made `timeout_ms` + this margin after the
     * unanswered one started finds nothing. Default 60000.
     */
    unanswered_send_margin_ms: z.number().int().min(0).max(3_600_000).default(60_000),
  })
  .refine((o) => o.region !== undefined || o.api_base_url !== undefined, {
    message: 'set region (kuwait, bahrain, jordan, oman, saudi_arabia, uae, qatar, egypt or test) or api_base_url',
    path: ['region'],
  });

export interface MyFatoorahOptions {
  /** Origin of the API, without a trailing slash: the deployment's (`region` or `api_base_url`). */
  baseUrl: string;
  /**
   * True when `api_base_url` set the origin: it serves every tenant (the local server), and a
   * tenant's `myfatoorah_region` does not replace it.
   */
  fixedBaseUrl: boolean;
  timeoutMs: number;
  retries: number;
  retryInitialDelayMs: number;
  retryMaxDelayMs: number;
  unansweredSendMarginMs: number;
}

const REGIONS = Object.keys(REGION_BASE_URLS) as MyFatoorahRegion[];

export function isRegion(value: string): value is MyFatoorahRegion {
  return (REGIONS as string[]).includes(value);
}

/** Why a tenant's `myfatoorah_region` is not one, or null when it is. */
export function regionProblem(value: string): string | null {
  return isRegion(value) ? null : `"${value}" is not a MyFatoorah region (${REGIONS.join(', ')})`;
}

/**
 * The origin a tenant's requests go to: `api_base_url` when set (it serves every tenant), else the
 * tenant's own region (`myfatoorah_region`, for a tenant whose account is in another country than
 * the deployment's default), else the deployment's `region`. A region that is not one is never
 * guessed: the caller validated it (regionProblem).
 */
export function baseUrlFor(options: MyFatoorahOptions, tenantRegion: string | undefined): string {
  if (options.fixedBaseUrl || tenantRegion === undefined || !isRegion(tenantRegion)) return options.baseUrl;
  return REGION_BASE_URLS[tenantRegion];
}

export function parseMyFatoorahOptions(raw: unknown): MyFatoorahOptions {
  const result = myFatoorahOptionsSchema.safeParse(raw ?? {});
  if (!result.success) {
    const where = ['apim', 'monetization', 'myfatoorah'];
    const problems = fieldProblems(result.error.issues, { whole: where.join('.'), at: where, unknownKey: 'unknown key' }).map((p) => `${p.field}: ${p.message}`);
    throw new EngineOptionsError(`invalid MyFatoorah options: ${problems.join('; ')}`);
  }
  const o = result.data;
  const base = o.api_base_url ?? REGION_BASE_URLS[o.region as MyFatoorahRegion];
  return {
    baseUrl: base.replace(/\/+$/, ''),
    fixedBaseUrl: o.api_base_url !== undefined,
    timeoutMs: o.timeout_ms,
    retries: o.retries,
    retryInitialDelayMs: o.retry_initial_delay_ms,
    retryMaxDelayMs: o.retry_max_delay_ms,
    unansweredSendMarginMs: o.unanswered_send_margin_ms,
  };
}
