/**
 * The demo's words on stdout: numbered steps with their outcome, indented details, and the final
 * summary. A step that fails is named with its reason. Plain text (no colours), so it reads the
 * same in a terminal, a CI log or a test.
 */
export class DemoOutput {
  private stepNumber = 0;

  constructor(
    private readonly totalSteps: number,
    private readonly write: (text: string) => void = (text) => process.stdout.write(text),
  ) {}

  line(text = ''): void {
    this.write(`${text}\n`);
  }

  detail(text: string): void {
    this.line(`      ${text}`);
  }

  /** Runs one step: prints its title, then `ok` and its details, or throws a `DemoStepError`. */
  async step<T>(id: string, title: string, run: () => Promise<T>): Promise<T> {
    this.stepNumber += 1;
    this.line(`[${String(this.stepNumber).padStart(2)}/${this.totalSteps}] ${title}`);
    try {
      return await run();
    } catch (error) {
      throw new DemoStepError(id, title, error);
    }
  }
}

export class DemoStepError extends Error {
  override readonly name = 'DemoStepError';
  constructor(
    readonly step: string,
    readonly title: string,
    override readonly cause: unknown,
  ) {
    super(`step "${step}" (${title}) failed: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/** The first lines: what this is, and that no money moves. */
export const BANNER = [
  '================================================================================',
  ' Meterline demo: API monetization end to end, on this machine',
  '',
  ' NOTE: the billing engine is a local Stripe-compatible test server; no money moves.',
  '       No Stripe account, no network beyond 127.0.0.1, no database server needed.',
  '================================================================================',
];

/** The first lines with `--engine myfatoorah`. */
export const MYFATOORAH_BANNER = [
  '================================================================================',
  ' Meterline demo: API monetization end to end, billed through MyFatoorah, in KWD',
  '',
  ' NOTE: the payment system is a local MyFatoorah-compatible test server; no money moves.',
  '       No MyFatoorah account, no network beyond 127.0.0.1, no database server needed.',
  '================================================================================',
];
