/**
 * A vitest reporter that keeps what the JSON reporter drops: errors of hooks (`beforeAll`, `afterAll`) and of suites,
 * and errors thrown outside any test. Written beside the JSON report (`<report>.errors.json`) so that the summary at
 * the end of `npm test` can say why a file failed whose tests all passed.
 */
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import type { Reporter, TestModule, Vitest } from 'vitest/node';
import type { SuiteError } from './report.js';

export default class SuiteErrorsReporter implements Reporter {
  private out: string | undefined;
  private root = process.cwd();

  onInit(ctx: Vitest): void {
    const target = ctx.config.outputFile;
    const json = typeof target === 'string' ? target : target?.json;
    this.out = json ? `${json.replace(/\.json$/, '')}.errors.json` : undefined;
    this.root = ctx.config.root;
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<{ message?: string; stack?: string }>): void {
    if (!this.out) return;
    const errors: SuiteError[] = [];
    for (const m of modules) {
      const file = relative(this.root, m.moduleId);
      for (const e of m.errors()) errors.push({ file, where: 'file', message: e.message ?? String(e) });
      for (const suite of m.children.allSuites()) {
        for (const e of suite.errors()) errors.push({ file, where: suite.fullName, message: e.message ?? String(e) });
      }
    }
    for (const e of unhandled) errors.push({ file: '', where: 'unhandled', message: e.message ?? e.stack ?? 'unknown error' });
    writeFileSync(this.out, JSON.stringify(errors, null, 2));
  }
}
