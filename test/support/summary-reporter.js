/**
 * Prints one plain closing line, "N passed, N failed, N skipped", that CI tooling reads regardless of runner.
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const backend = process.env.TEST_DATABASE_URL ? 'native' : 'embedded';
    console.log(`\nDatabase backend: ${backend}`);
    console.log(
      `jest: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped`,
    );
  }
}
module.exports = SummaryReporter;
