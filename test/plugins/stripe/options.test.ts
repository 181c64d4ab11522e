import { parseStripeOptions } from '../../../plugins/stripe/stripe.options';

describe('[apim.monetization.stripe] retry options', () => {
  it('default to one policy: 6 re-sends, 0.5 s doubling up to 8 s', () => {
    expect(parseStripeOptions({})).toMatchObject({ retries: 6, retry_initial_delay_ms: 500, retry_max_delay_ms: 8_000 });
  });

  it('still read the keys of the two former layers: the larger count set, their delays', () => {
    expect(parseStripeOptions({ max_network_retries: 2 })).toMatchObject({ retries: 2 });
    expect(parseStripeOptions({ max_network_retries: 0, rate_limit_retries: 9, rate_limit_initial_delay_ms: 50, rate_limit_max_delay_ms: 400 })).toMatchObject({
      retries: 9,
      retry_initial_delay_ms: 50,
      retry_max_delay_ms: 400,
    });
    expect(parseStripeOptions({ retries: 1, rate_limit_retries: 9 })).toMatchObject({ retries: 1 });
    expect(parseStripeOptions({ max_network_retries: 1 })).not.toHaveProperty('max_network_retries');
  });

  it('name a bad key in full', () => {
    expect(() => parseStripeOptions({ retries: -1 })).toThrow(/apim\.monetization\.stripe\.retries: /);
    expect(() => parseStripeOptions({ retry: 1 })).toThrow(/apim\.monetization\.stripe\.retry: unknown key/);
  });
});
