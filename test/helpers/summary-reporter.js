const { writeSync } = require('node:fs');

/**
 * Prints one plain closing line, "tests: N passed, N failed[, N skipped]", as the very last line
 * of a jest run (after jest's own summary, hence on exit), so that any CI reading closing lines
 * can tell how many tests ran. Before it, the lines test/helpers/test-plan.ts left: which
 * databases ran and which optional parts were skipped.
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const counts = `tests: ${results.numPassedTests} passed, ${results.numFailedTests} failed`;
    const line = skipped > 0 ? `${counts}, ${skipped} skipped` : counts;
    const plan = JSON.parse(process.env.METERLINE_TEST_PLAN ?? '[]');
    process.once('exit', () => writeSync(2, [...plan, line].map((text) => `${text}\n`).join('')));
  }
}
module.exports = SummaryReporter;
