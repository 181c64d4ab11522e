import type { z } from 'zod';

/**
 * zod issues → messages that name their field, the one way every part of Meterline names a field:
 * keys joined by dots, array positions in brackets (`events[3].httpStatus`,
 * `tenants[0].monetization_info.stripe_webhook_secret`, `monetization.properties.fixedPrice`),
 * relative to the document that was validated (a request body's fields are not prefixed with
 * `body`). The REST answers (`error[].code`, `description`), the usage batch results and the
 * configuration errors all use it.
 */
export interface FieldProblem {
  field: string;
  message: string;
}

export interface FieldProblemOptions {
  /** The name of the validated document as a whole, for an issue about all of it (`body`, `(root)`). */
  whole: string;
  /** Where the validated value sits in a larger document (`['events', 3]` for one event of a batch). */
  at?: readonly PropertyKey[];
  /** What an unknown key is told; REST answers say it is not a supported field. */
  unknownKey?: string;
}

/** One problem per issue, and one per key of an `unrecognized_keys` issue. */
export function fieldProblems(issues: readonly z.core.$ZodIssue[], options: FieldProblemOptions): FieldProblem[] {
  const at = options.at ?? [];
  const unknownKey = options.unknownKey ?? 'is not a supported field';
  return issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: fieldName([...at, ...issue.path, key], options.whole), message: unknownKey }));
    }
    return [{ field: fieldName([...at, ...issue.path], options.whole), message: issue.message }];
  });
}

/** `events[3].httpStatus`; `whole` for the empty path. */
export function fieldName(path: readonly PropertyKey[], whole: string): string {
  if (path.length === 0) return whole;
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}
