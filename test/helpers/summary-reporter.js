const { writeSync } = require('node:fs');

/**
 * Prints one plain closing line, "tests: N passed, N failed[, N skipped]", as the very last line
 * of a jest run (after jest's own summary, hence on exit), so that any CI reading closing lines
 * can tell how many tests ran.
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const counts = `tests: ${results.numPassedTests} passed, ${results.numFailedTests} failed`;
    const line = skipped > 0 ? `${counts}, ${skipped} skipped` : counts;
    process.once('exit', () => writeSync(2, `${line}\n`));
  }
}
module.exports = SummaryReporter;
