/**
 * ESLint rule `atlas/import-boundaries`: the import table of DESIGN.md, enforced.
 *
 *   package  may import (of ours)
 *   schema   —
 *   tracer   schema
 *   figure   schema
 *   server   tracer, schema, figure
 *   client   schema, figure
 *
 * Production code (`<package>/src/**`) imports other packages only through their entry points
 * (`@circuit-atlas/<name>`, or a file the package exports, such as the SDL); a relative path that
 * climbs into another folder is refused. Tests, benchmarks and test support may import any package's
 * entry point (a browser test starts a server) but never reach into another package's files.
 * Some external modules are refused too: the tracer knows nothing of stores or HTTP, and the figure
 * module runs in the browser and in Node alike.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

const PACKAGES = ['schema', 'tracer', 'figure', 'server', 'client'];

export const IMPORT_TABLE = {
  schema: [],
  tracer: ['schema'],
  figure: ['schema'],
  server: ['tracer', 'schema', 'figure'],
  client: ['schema', 'figure'],
};

/** External modules a package's production code must not use, with the reason shown to the author. */
const FORBIDDEN_EXTERNAL = {
  schema: [[/^(?!graphql$)[^.]/, 'schema holds contracts only: no runtime dependencies']],
  tracer: [
    [
      /^(better-sqlite3|neo4j-driver|express|cors|@apollo\/|graphql|cytoscape|playwright-core)/,
      'the tracer knows nothing of stores, HTTP or browsers',
    ],
  ],
  figure: [[/^node:|^(fs|path|os|child_process)$/, 'figure runs in the browser and in Node alike: no Node modules']],
  client: [
    [
      /^node:|^(fs|path|os|child_process|better-sqlite3|neo4j-driver|onnxruntime-node)$/,
      'the viewer runs in the browser',
    ],
  ],
};

/** Where a file sits: its top-level folder and whether it is production code of a package. */
export function placeOf(file, root) {
  const rel = path.relative(root, file).split(path.sep);
  const top = rel[0];
  return { top, isPackage: PACKAGES.includes(top), isProduction: PACKAGES.includes(top) && rel[1] === 'src' };
}

/** Which package a specifier names, and whether it goes past the entry point; null for non-workspace imports. */
function targetOf(specifier, file, root) {
  const scoped = /^@circuit-atlas\/([^/]+)(\/.*)?$/.exec(specifier);
  if (scoped) return { top: scoped[1], subpath: scoped[2] ?? '', relative: false };
  if (!specifier.startsWith('.')) return null;
  const resolved = path.resolve(path.dirname(file), specifier);
  const rel = path.relative(root, resolved).split(path.sep);
  return { top: rel[0], subpath: rel.slice(1).join('/'), relative: true };
}

/** Subpaths a package declares in its package.json `exports` besides its entry point ("/cli", "/schema.graphql"). */
const exportedSubpaths = new Map();
function exportsOf(root, name) {
  if (!exportedSubpaths.has(name)) {
    let subpaths;
    try {
      const manifest = JSON.parse(readFileSync(path.join(root, name, 'package.json'), 'utf8'));
      subpaths = Object.keys(manifest.exports ?? {}).map((key) => key.slice(1));
    } catch {
      subpaths = []; // no manifest: only the bare name would resolve, and nothing does
    }
    exportedSubpaths.set(name, new Set(subpaths));
  }
  return exportedSubpaths.get(name);
}

export function checkImport(specifier, file, root) {
  const from = placeOf(file, root);
  const target = targetOf(specifier, file, root);
  if (!target) {
    if (!from.isProduction) return null;
    for (const [pattern, reason] of FORBIDDEN_EXTERNAL[from.top] ?? []) {
      if (pattern.test(specifier)) return `'${specifier}' may not be imported in ${from.top}/src: ${reason}`;
    }
    return null;
  }
  if (target.top === from.top) return null;
  if (!PACKAGES.includes(target.top)) {
    return from.isProduction
      ? `${from.top}/src may not import '${specifier}' (outside the packages: ${target.top}/)`
      : null;
  }
  if (target.relative) {
    return `import '${specifier}' reaches into ${target.top}/ by a relative path: import '@circuit-atlas/${target.top}' (its entry point) instead`;
  }
  if (target.subpath && !exportsOf(root, target.top).has(target.subpath)) {
    return `'${specifier}' goes past the entry point of @circuit-atlas/${target.top}: import '@circuit-atlas/${target.top}' and export what you need from its index.ts`;
  }
  if (from.isProduction && !IMPORT_TABLE[from.top].includes(target.top)) {
    const allowed = IMPORT_TABLE[from.top].join(', ') || 'no other package';
    return `${from.top} may not import @circuit-atlas/${target.top} (DESIGN.md's import table: ${from.top} may import ${allowed})`;
  }
  return null;
}

export const importBoundaries = {
  meta: {
    type: 'problem',
    docs: { description: "enforce DESIGN.md's import table between the workspace packages" },
    schema: [{ type: 'object', properties: { root: { type: 'string' } }, additionalProperties: false }],
  },
  create(context) {
    const root = context.options[0]?.root ?? context.cwd;
    const file = context.filename;
    const check = (node, source) => {
      if (!source || typeof source.value !== 'string') return;
      const problem = checkImport(source.value, file, root);
      if (problem) context.report({ node, message: problem });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source),
      ExportNamedDeclaration: (node) => check(node, node.source),
      ExportAllDeclaration: (node) => check(node, node.source),
      ImportExpression: (node) => check(node, node.source.type === 'Literal' ? node.source : null),
    };
  },
};

export default { rules: { 'import-boundaries': importBoundaries } };
