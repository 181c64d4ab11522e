/** Exact decimal amounts: MyFatoorah takes and gives major-unit decimals ("accepts decimal values e.g. 2.500", send-payment). */

/** A JSON number or numeric string as minor units of a currency with `decimals` places; null when it is not one or has more places. */
export function toMinor(value: unknown, decimals: number): bigint | null {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return null;
    text = String(value);
  } else if (typeof value === 'string') text = value.trim();
  else return null;
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) return null;
  const fraction = (match[3] ?? '').replace(/0+$/, '');
  if (fraction.length > decimals) return null;
  const minor = BigInt((match[2] ?? '0') + fraction.padEnd(decimals, '0'));
  return match[1] === '-' ? -minor : minor;
}

/** Minor units as a JSON number in major units (MyFatoorah answers numbers, e.g. InvoiceValue 10.5). */
export function toMajorNumber(minor: bigint, decimals: number): number {
  return Number(toMajorString(minor, decimals));
}

/** Minor units as a plain major-unit string without trailing zeros ("20", "4.54"), as the V2 webhook's Amount fields. */
export function toMajorString(minor: bigint, decimals: number): string {
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString().padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** "10.500 KWD" for people (the pay page). */
export function formatAmount(minor: bigint, decimals: number, currency: string): string {
  const digits = minor.toString().padStart(decimals + 1, '0');
  return decimals === 0 ? `${digits} ${currency}` : `${digits.slice(0, -decimals)}.${digits.slice(-decimals)} ${currency}`;
}
