/**
 * The project's lint configuration refuses imports that break DESIGN.md's table, and accepts the
 * ones it allows. Linted with the real eslint.config.js, as `npm run lint` does.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const eslint = new ESLint({ cwd: root });

async function problems(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, file) });
  return result.messages.filter((m) => m.ruleId === 'atlas/import-boundaries').map((m) => m.message);
}

describe('the import table is enforced by npm run lint', () => {
  it('refuses the viewer importing the tracer or the server', async () => {
    expect(await problems('client/src/pages/x.ts', "import { traceGraph } from '@circuit-atlas/tracer';\n")).toEqual([
      "client may not import @circuit-atlas/tracer (DESIGN.md's import table: client may import schema, figure)",
    ]);
    expect(await problems('client/src/x.ts', "export { openStore } from '@circuit-atlas/server';\n")).toHaveLength(1);
  });

  it('refuses the tracer importing anything of ours but schema, and store or HTTP modules', async () => {
    expect(await problems('tracer/src/x.ts', "import { renderFigure } from '@circuit-atlas/figure';\n")).toHaveLength(
      1,
    );
    expect((await problems('tracer/src/x.ts', "import Database from 'better-sqlite3';\n"))[0]).toMatch(
      /the tracer knows nothing of stores/,
    );
  });

  it('refuses relative paths into another package and deep imports past an entry point', async () => {
    const [relative] = await problems(
      'server/src/x.ts',
      "import { fromGraphJson } from '../../tracer/src/graph/graph-json.js';\n",
    );
    expect(relative).toMatch(/reaches into tracer\/ by a relative path: import '@circuit-atlas\/tracer'/);
    const [deep] = await problems(
      'bench/x.ts',
      "import { GraphSession } from '@circuit-atlas/tracer/src/onnx/session.js';\n",
    );
    expect(deep).toMatch(/goes past the entry point of @circuit-atlas\/tracer/);
    const [dynamic] = await problems('server/src/x.ts', "await import('../../client/src/main.js');\n");
    expect(dynamic).toMatch(/reaches into client\//);
  });

  it('accepts what the table allows, the exported files of schema, and tests that use any entry point', async () => {
    expect(
      await problems(
        'server/src/x.ts',
        "import { traceGraph } from '@circuit-atlas/tracer';\nimport { writeFigureSvg } from '@circuit-atlas/figure';\n",
      ),
    ).toEqual([]);
    expect(
      await problems(
        'tracer/src/x.ts',
        "import schema from '@circuit-atlas/schema/graph-json.schema.json' with { type: 'json' };\n",
      ),
    ).toEqual([]);
    expect(await problems('client/test/x.test.ts', "import { startServer } from '@circuit-atlas/server';\n")).toEqual(
      [],
    );
    expect(await problems('client/src/x.ts', "import { formatNodeId } from '@circuit-atlas/schema';\n")).toEqual([]);
  });
});
