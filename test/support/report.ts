/** The summary of a vitest JSON report that `npm test` prints at its end. */

export interface JsonReport {
  testResults?: { name: string; assertionResults?: { fullName: string; status: string; failureMessages?: string[] }[]; message?: string; status?: string }[];
}

/** An error of a hook or a suite, or one thrown outside any test (written by suite-errors.ts). */
export interface SuiteError {
  readonly file: string;
  readonly where: string;
  readonly message: string;
}

/**
 * The failed tests of a run, a line each with the first line of their error: printed at the very end, so that the
 * tail of a long log (all a CI summary may show) still says what failed, not only that something did.
 */
export function failuresOf(report: JsonReport, rootDir: string, suiteErrors: readonly SuiteError[] = []): string[] {
  const lines: string[] = [];
  for (const file of report.testResults ?? []) {
    const rel = file.name.startsWith(rootDir) ? file.name.slice(rootDir.length + 1) : file.name;
    const failed = (file.assertionResults ?? []).filter((t) => t.status === 'failed');
    for (const t of failed) lines.push(`${rel} > ${t.fullName}: ${firstLine(t.failureMessages?.[0])}`);
    const own = suiteErrors.filter((e) => e.file === rel);
    for (const e of own) lines.push(`${rel} > ${e.where}: ${firstLine(e.message)}`);
    if (failed.length === 0 && own.length === 0 && file.status === 'failed') lines.push(`${rel}: ${firstLine(file.message)}`);
  }
  for (const e of suiteErrors.filter((x) => x.file === '')) lines.push(`${e.where}: ${firstLine(e.message)}`);
  return lines;
}

function firstLine(text: string | undefined): string {
  const line = (text ?? 'failed').split('\n').find((l) => l.trim().length > 0) ?? 'failed';
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}
