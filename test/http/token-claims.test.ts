import { EMAIL_MAX_LENGTH, SUBJECT_MAX_LENGTH } from '../../src/http/auth/tokens';
import { ADMIN, DEVPORTAL, policyBody, SCOPES, forEachRestHarness, uniqueName, type RestResponse } from '../helpers/rest-harness';

/**
 * A validly signed token whose `sub` or `email` cannot be stored (longer than its column:
 * CREATED_BY and AM_SUBSCRIBER.USER_ID hold 100 characters of `sub`, EMAIL_ADDRESS 256 of
 * `email`; or a control character) is refused at the edge with 401 naming the claim, on every
 * database, before any row is written; the longest storable values work.
 */
function expectClaimRefused(response: RestResponse, description: string): void {
  expect(response.status).toBe(401);
  expect(response.headers.get('www-authenticate')).toContain('invalid_token');
  expect(response.body).toMatchObject({ code: 900901, description });
}

forEachRestHarness((rest) => {

  const createApplication = (token: string) => rest().call('POST', `${DEVPORTAL}/applications`, { token, body: { name: uniqueName('app'), throttlingPolicy: 'Unlimited' } });

  it(`a sub of ${SUBJECT_MAX_LENGTH} characters (multi-byte ones too) is stored; one more is 401 naming sub`, async () => {
    const longest = 'é'.repeat(SUBJECT_MAX_LENGTH - 1) + '😀';
    expect((await createApplication(rest().token({ sub: longest, scopes: SCOPES.subscriber }))).status).toBe(201);
    expectClaimRefused(
      await createApplication(rest().token({ sub: 'u'.repeat(SUBJECT_MAX_LENGTH + 1), scopes: SCOPES.subscriber })),
      `The access token's sub is longer than ${SUBJECT_MAX_LENGTH} characters`,
    );
  });

  it('a too-long sub is refused on every API, also where it would be written as CREATED_BY', async () => {
    const token = rest().token({ sub: 'a'.repeat(SUBJECT_MAX_LENGTH + 1), scopes: SCOPES.admin });
    expectClaimRefused(
      await rest().call('POST', `${ADMIN}/throttling/policies/subscription`, { token, body: policyBody(uniqueName('Plan')) }),
      `The access token's sub is longer than ${SUBJECT_MAX_LENGTH} characters`,
    );
  });

  it(`an email of ${EMAIL_MAX_LENGTH} characters is stored; one more is 401 naming email`, async () => {
    const email = (n: number) => `${'m'.repeat(n - '@example.com'.length)}@example.com`;
    expect((await createApplication(rest().token({ sub: uniqueName('sam'), email: email(EMAIL_MAX_LENGTH), scopes: SCOPES.subscriber }))).status).toBe(201);
    expectClaimRefused(
      await createApplication(rest().token({ sub: uniqueName('sam'), email: email(EMAIL_MAX_LENGTH + 1), scopes: SCOPES.subscriber })),
      `The access token's email is longer than ${EMAIL_MAX_LENGTH} characters`,
    );
  });

  it.each([
    ['sub', { sub: 'sam\u0000x' }],
    ['sub', { sub: 'sam\nx' }],
    ['email', { sub: 'sam', email: 'sam\u0000@example.com' }],
    ['sub', { sub: 'sam\uD800' }],
  ])('a %s holding a NUL, a control character or a lone surrogate is 401 naming it', async (claim, claims) => {
    expectClaimRefused(
      await createApplication(rest().token({ ...claims, scopes: SCOPES.subscriber })),
      `The access token's ${claim} contains a character that cannot be stored`,
    );
  });
});
