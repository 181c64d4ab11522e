/**
 * The parts of Meterline and which may import which: the one table that test/architecture.test.ts
 * enforces over the import graph of src/, plugins/, migrations/ and dev/, and that
 * docs/architecture.md shows (the test fails when the doc's copy differs). Change the rules here,
 * then paste the table the test prints into the doc.
 */

export interface ArchitectureRules {
  /**
   * Each part and the paths it holds: a path ending in `/` is a folder, any other a file. A file
   * belongs to the part with the longest matching path, so `src/monetization/monetization.ts` is
   * the port while the rest of `src/monetization/` is the monetization part.
   */
  readonly parts: Readonly<Record<string, readonly string[]>>;
  /** Part → the other parts it may import. Imports inside a part are always allowed. */
  readonly allowed: Readonly<Record<string, readonly string[]>>;
  /**
   * Files private to their part (a part's repositories: its tables are reached through its
   * services): only their own part and these parts may import them.
   */
  readonly privateFiles: { readonly pattern: RegExp; readonly alsoImportedBy: readonly string[] };
  /**
   * Parts whose sub-folders are independent units that may not import each other (each billing
   * engine under `plugins/<engine>/`).
   */
  readonly isolatedFolders: readonly string[];
  /**
   * Imports the target design forbids but the code still makes, file to file. Each is accepted
   * until it is gone; then the test asks to delete its entry, so the list only shrinks.
   */
  readonly knownViolations: readonly KnownViolation[];
}

export interface KnownViolation {
  readonly from: string;
  readonly to: string;
  /** What the target design wants instead. */
  readonly until: string;
}

/** What every part of the product may use. */
const KERNELS = ['domain', 'validation', 'logger'] as const;

export const rules: ArchitectureRules = {
  parts: {
    composition: ['src/composition.ts', 'src/service.ts'],
    cli: ['src/cli/'],
    http: ['src/http/'],
    'wso2-error-body': ['src/http/wso2-error-body.ts'],
    'gateway-kit': ['src/gateway-kit/'],
    monetization: ['src/monetization/'],
    'monetization-port': ['src/monetization/monetization.ts', 'src/monetization/capabilities.ts', 'src/monetization/billing-events.ts'],
    notifications: ['src/notifications/'],
    'notifications-port': ['src/notifications/events.ts', 'src/notifications/emit.ts'],
    apim: ['src/apim/'],
    billing: ['src/billing/'],
    usage: ['src/usage/'],
    invoicing: ['src/invoicing/'],
    spend: ['src/spend/'],
    config: ['src/config/'],
    db: ['src/db/'],
    migrator: ['src/db/migrator.ts'],
    domain: ['src/domain/'],
    validation: ['src/validation/'],
    logger: ['src/logger.ts'],
    'engine-registry': ['plugins/index.ts'],
    engines: ['plugins/'],
    rating: ['src/rating/'],
    migrations: ['migrations/'],
    'dev-demo': ['dev/demo/'],
    'dev-stripe-server': ['dev/stripe-server/'],
    'dev-myfatoorah-server': ['dev/myfatoorah-server/'],
  },
  allowed: {
    composition: ['http', 'monetization', 'monetization-port', 'notifications', 'notifications-port', 'apim', 'billing', 'usage', 'invoicing', 'spend', 'migrator', 'engine-registry', 'config', 'db', ...KERNELS],
    cli: ['composition', 'http', 'monetization', 'monetization-port', 'usage', 'migrator', 'config', 'db', ...KERNELS],
    http: ['wso2-error-body', 'monetization', 'monetization-port', 'notifications', 'notifications-port', 'apim', 'billing', 'usage', 'config', 'db', ...KERNELS],
    'wso2-error-body': [],
    'gateway-kit': ['wso2-error-body', 'billing', 'usage', ...KERNELS],
    monetization: ['monetization-port', 'config', ...KERNELS],
    'monetization-port': ['domain', 'logger'],
    notifications: ['notifications-port', 'config', 'db', ...KERNELS],
    'notifications-port': ['domain', 'logger'],
    apim: ['monetization-port', 'notifications-port', 'billing', 'config', 'db', ...KERNELS],
    billing: ['monetization-port', 'notifications-port', 'config', 'db', ...KERNELS],
    usage: ['monetization-port', 'notifications-port', 'config', 'db', ...KERNELS],
    invoicing: ['monetization-port', 'notifications-port', 'billing', 'usage', 'rating', 'config', 'db', ...KERNELS],
    spend: ['monetization-port', 'notifications-port', 'usage', 'rating', 'config', 'db', ...KERNELS],
    config: ['domain', 'validation'],
    db: ['config', 'logger'],
    migrator: ['db', 'migrations', 'config', 'logger'],
    domain: [],
    validation: [],
    logger: [],
    'engine-registry': ['engines', 'monetization', 'monetization-port'],
    // Rating is engine-neutral (domain only): an engine that answers a preview itself rates it as Meterline does.
    engines: ['monetization-port', 'rating', 'db', 'migrations', ...KERNELS],
    rating: ['domain'],
    migrations: ['db'],
    'dev-demo': ['composition', 'http', 'gateway-kit', 'usage', 'rating', 'config', 'engines', ...KERNELS],
    'dev-stripe-server': [],
    'dev-myfatoorah-server': [],
  },
  privateFiles: { pattern: /\.repository\.ts$/, alsoImportedBy: ['composition'] },
  isolatedFolders: ['engines'],
  knownViolations: [],
};

/**
 * Engine constants the engine-neutral core under src/ must not decide by, beyond those found
 * without a list: engine names (the folders under plugins/) and the string values each engine
 * declares in `plugins/<engine>/capabilities.ts`.
 */
export const engineConstants: readonly string[] = [];

/**
 * Engine names and constants still in code under src/, by file and by the token as written.
 * Remove when issue 13's engine capabilities land: each entry goes when its engine declares the
 * value as a capability; a new occurrence anywhere fails the test.
 */
export const engineNameAllowList: readonly { readonly file: string; readonly text: string }[] = [
];
