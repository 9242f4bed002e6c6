/**
 * `npm run bench [-- <name> ...]`: runs the named benchmarks (all when none is named). Each
 * benchmark module in this folder exports `run(): Promise<void>` and prints medians and ratios
 * against a baseline measured in the same run on the same machine.
 */
const BENCHMARKS: Record<string, () => Promise<{ run(): Promise<void> }>> = {
  trace: () => import('./trace.js'),
  memory: () => import('./memory.js'),
  stores: () => import('./stores.js'),
  api: () => import('./api.js'),
  viewer: () => import('./viewer.js'),
  features: () => import('./features.js'),
  circuits: () => import('./circuit-readability.js'),
  queue: () => import('./queue.js'),
  collection: () => import('./collection.js'),
};

const requested = process.argv.slice(2);
const names = requested.length > 0 ? requested : Object.keys(BENCHMARKS);
for (const name of names) {
  const load = BENCHMARKS[name];
  if (!load) {
    process.stderr.write(`unknown benchmark '${name}'; choose from: ${Object.keys(BENCHMARKS).join(', ')}\n`);
    process.exit(2);
  }
  process.stdout.write(`\n=== bench ${name} ===\n`);
  const module = await load();
  await module.run();
}
