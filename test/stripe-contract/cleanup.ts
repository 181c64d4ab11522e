/**
 * What a contract run created, undone at its end, newest first: customers deleted (which also
 * cancels their subscriptions: https://docs.stripe.com/api/customers/delete), prices and products
 * archived (Stripe keeps prices that invoices refer to: https://docs.stripe.com/api/prices/update),
 * meters deactivated (meters cannot be deleted: https://docs.stripe.com/api/billing/meter/deactivate),
 * webhook endpoints deleted. Every step runs even when an earlier one failed; the failures are
 * returned so the run can report them.
 */
export class Cleanup {
  private readonly steps: Array<{ what: string; run: () => Promise<unknown> }> = [];

  add(what: string, run: () => Promise<unknown>): void {
    this.steps.push({ what, run });
  }

  get size(): number {
    return this.steps.length;
  }

  async runAll(): Promise<string[]> {
    const failures: string[] = [];
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step.run();
      } catch (error) {
        failures.push(`${step.what}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return failures;
  }
}
