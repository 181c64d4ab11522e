import { authenticationFailed, redactKey } from './errors';

const TEST_KEY = /^sk_test_[A-Za-z0-9_]+$/;

/**
 * The secret key from `Authorization: Bearer sk_test_...` (or Basic auth with
 * the key as user name, which Stripe also accepts). Only test-mode secret
 * keys are accepted; anything else is Stripe's 401.
 */
export function secretKeyFrom(header: string | undefined): string {
  if (!header) {
    throw authenticationFailed(
      "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
    );
  }
  let key: string;
  if (header.startsWith('Bearer ')) key = header.slice('Bearer '.length).trim();
  else if (header.startsWith('Basic ')) key = Buffer.from(header.slice('Basic '.length), 'base64').toString('utf8').split(':')[0] ?? '';
  else throw authenticationFailed('Invalid Authorization header: use Bearer auth with your secret key.');
  if (!TEST_KEY.test(key)) throw authenticationFailed(`Invalid API Key provided: ${redactKey(key)}`);
  return key;
}
