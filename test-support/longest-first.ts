/**
 * Test files start longest first, so that on two workers no long file starts last and runs alone.
 * Vitest orders by the previous run's durations only when its cache exists (a clean clone has none):
 * this order reads a committed list of expected seconds per file (expected-durations.json), and the
 * cache's duration for files the list lacks. Unknown files go last, largest source first.
 * Refresh the list from a JSON report: `node --import tsx test-support/longest-first.ts report.json`.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const LIST = fileURLToPath(new URL('expected-durations.json', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

function expectedSeconds(): Record<string, number> {
  return JSON.parse(readFileSync(LIST, 'utf8')) as Record<string, number>;
}

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const expected = expectedSeconds();
    const root = this.ctx.config.root;
    const seconds = (spec: TestSpecification): number | undefined => {
      const path = relative(root, spec.moduleId);
      const cached = this.ctx.cache.getFileTestResults(`${spec.project.name}:${path}`);
      return expected[path] ?? (cached ? cached.duration / 1000 : undefined);
    };
    const size = (spec: TestSpecification) => statSync(spec.moduleId).size;
    return [...files].sort((a, b) => {
      const [sa, sb] = [seconds(a), seconds(b)];
      if (sa !== undefined && sb !== undefined) return sb - sa;
      if (sa !== undefined || sb !== undefined) return sa !== undefined ? -1 : 1;
      return size(b) - size(a);
    });
  }
}

/** Writes expected-durations.json from a vitest JSON report (`--reporter=json --outputFile=…`). */
function writeList(reportPath: string): void {
  const report = JSON.parse(readFileSync(reportPath, 'utf8')) as {
    testResults: { name: string; startTime: number; endTime: number }[];
  };
  const rows = report.testResults
    .map((r) => [relative(REPO_ROOT, r.name), Math.round((r.endTime - r.startTime) / 100) / 10] as const)
    .sort((a, b) => b[1] - a[1]);
  writeFileSync(LIST, `${JSON.stringify(Object.fromEntries(rows), null, 2)}\n`);
  console.log(`wrote ${rows.length} files to ${relative(REPO_ROOT, LIST)}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) writeList(process.argv[2]);
