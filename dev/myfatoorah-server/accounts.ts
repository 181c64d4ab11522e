/**
 * Vendor accounts: each API token belongs to one MyFatoorah vendor account in one country.
 *
 * Countries and their currencies: https://docs.myfatoorah.com/docs/iso-lookups
 * "Each enabled country in your portal account has a different API token key":
 * https://docs.myfatoorah.com/docs/live-token
 */

/** Country ISO code → the country's currency (ISO lookups) and that currency's decimals (ISO 4217). */
export const COUNTRIES = {
  KWT: { currency: 'KWD', decimals: 3 },
  SAU: { currency: 'SAR', decimals: 2 },
  BHR: { currency: 'BHD', decimals: 3 },
  ARE: { currency: 'AED', decimals: 2 },
  QAT: { currency: 'QAR', decimals: 2 },
  OMN: { currency: 'OMR', decimals: 3 },
  JOR: { currency: 'JOD', decimals: 3 },
  EGY: { currency: 'EGP', decimals: 2 },
} as const;

export type CountryIso = keyof typeof COUNTRIES;

/** Decimals of every currency an account may be configured to invoice in (ISO 4217). */
export const CURRENCY_DECIMALS: Readonly<Record<string, number>> = {
  KWD: 3, SAR: 2, BHD: 3, AED: 2, QAR: 2, OMR: 3, JOD: 3, EGP: 2, USD: 2, EUR: 2, GBP: 2,
};

/** Webhook V2 settings of an account (https://docs.myfatoorah.com/docs/webhook-information). */
export interface WebhookSettings {
  /** The endpoint MyFatoorah POSTs events to; null: webhooks off. */
  url: string | null;
  /** The webhook secret key the `MyFatoorah-Signature` is made with (mandatory in V2). */
  secret: string;
  /** Retries after a failed delivery: 0..5 ("the maximum number of retries is 5", webhook-v2). Default 5. */
  retries: number;
  /** Seconds between retries: 0..180 ("the maximum delay is 180 seconds", webhook-v2). Default 60. */
  retryDelaySeconds: number;
}

export interface AccountConfig {
  /** The API token key (`Authorization: Bearer <token>`). */
  token: string;
  /** The vendor's country; default KWT. */
  country?: CountryIso;
  /** Currencies the account can invoice in; default the country's currency only. */
  currencies?: string[];
  webhook?: Partial<WebhookSettings> & { url?: string | null };
}

export interface Account {
  token: string;
  country: CountryIso;
  /** Upper-case ISO codes; the first is the base currency. */
  currencies: string[];
  webhook: WebhookSettings;
}

export const MAX_WEBHOOK_RETRIES = 5;
export const MAX_WEBHOOK_RETRY_DELAY_SECONDS = 180;

export function makeAccount(config: AccountConfig): Account {
  if (typeof config.token !== 'string' || config.token.trim() === '') throw new RangeError('an account needs a token');
  const country = config.country ?? 'KWT';
  if (!(country in COUNTRIES)) throw new RangeError(`unknown country ${String(country)}: one of ${Object.keys(COUNTRIES).join(', ')}`);
  const currencies = (config.currencies ?? [COUNTRIES[country].currency]).map((c) => c.toUpperCase());
  for (const currency of currencies) {
    if (CURRENCY_DECIMALS[currency] === undefined) throw new RangeError(`unknown currency ${currency}`);
  }
  if (currencies.length === 0) throw new RangeError('an account needs at least one currency');
  return { token: config.token, country, currencies, webhook: webhookSettings(config.webhook ?? {}, `whsec_${country.toLowerCase()}_test`) };
}

export function webhookSettings(input: Partial<WebhookSettings>, fallbackSecret: string, base?: WebhookSettings): WebhookSettings {
  const settings: WebhookSettings = {
    url: input.url !== undefined ? input.url : (base?.url ?? null),
    secret: input.secret ?? base?.secret ?? fallbackSecret,
    retries: input.retries ?? base?.retries ?? MAX_WEBHOOK_RETRIES,
    retryDelaySeconds: input.retryDelaySeconds ?? base?.retryDelaySeconds ?? 60,
  };
  if (!Number.isInteger(settings.retries) || settings.retries < 0 || settings.retries > MAX_WEBHOOK_RETRIES) {
    throw new RangeError(`webhook retries must be a whole number 0..${MAX_WEBHOOK_RETRIES}`);
  }
  if (!Number.isInteger(settings.retryDelaySeconds) || settings.retryDelaySeconds < 0 || settings.retryDelaySeconds > MAX_WEBHOOK_RETRY_DELAY_SECONDS) {
    throw new RangeError(`webhook retryDelaySeconds must be a whole number 0..${MAX_WEBHOOK_RETRY_DELAY_SECONDS}`);
  }
  return settings;
}
