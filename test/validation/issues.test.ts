import { z } from 'zod';
import { fieldName, fieldProblems } from '../../src/validation/issues';

/** The one field syntax: dotted keys, bracketed positions, relative to the validated document. */
describe('fieldProblems', () => {
  const schema = z.strictObject({
    events: z.array(z.strictObject({ id: z.string(), tags: z.array(z.string()).optional() })).min(1),
  });
  const issuesOf = (input: unknown) => {
    const result = schema.safeParse(input);
    if (result.success) throw new Error('expected the input to be refused');
    return result.error.issues;
  };

  it('names nested keys with dots and array positions with brackets, and each unknown key on its own', () => {
    const problems = fieldProblems(issuesOf({ events: [{ id: 'a' }, { id: 1, tags: ['x', 2], extra: 1, more: 2 }] }), { whole: 'body' });
    expect(problems).toEqual([
      { field: 'events[1].id', message: expect.any(String) },
      { field: 'events[1].tags[1]', message: expect.any(String) },
      { field: 'events[1].extra', message: 'is not a supported field' },
      { field: 'events[1].more', message: 'is not a supported field' },
    ]);
  });

  it('names the whole document by its given name, and places a part inside a larger one', () => {
    expect(fieldProblems(issuesOf('not an object'), { whole: 'body' })).toEqual([{ field: 'body', message: expect.any(String) }]);
    expect(fieldProblems(issuesOf({ events: [], x: 1 }), { whole: '(root)', unknownKey: 'unknown key' })).toEqual([
      { field: 'events', message: expect.any(String) },
      { field: 'x', message: 'unknown key' },
    ]);
    const oneEvent = z.strictObject({ id: z.string() }).safeParse({ id: 'a', extra: true });
    expect(oneEvent.success ? [] : fieldProblems(oneEvent.error.issues, { whole: 'body', at: ['events', 3] })).toEqual([
      { field: 'events[3].extra', message: 'is not a supported field' },
    ]);
  });

  it('formats a bare path the same way', () => {
    expect([fieldName([], 'body'), fieldName(['tenants', 0, 'monetization_info', 'stripe_webhook_secret'], '(root)'), fieldName([2], 'body')]).toEqual([
      'body',
      'tenants[0].monetization_info.stripe_webhook_secret',
      '[2]',
    ]);
  });
});
