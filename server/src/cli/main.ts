/**
 * `circuit-atlas <command> [options]`: dispatches to one file per command under ./commands.
 * Each command module exports `run(argv): Promise<number>` (the exit code) and `usage` (help text).
 * Errors the user can act on (UserInputError, ModelFormatError, StoreError) are printed without a
 * stack trace; anything else is a bug and keeps its stack.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  trace: { summary: 'trace a prompt and write its attribution graph', load: () => import('./commands/trace.js') },
  intervene: {
    summary: 'set or scale features and show how the top logits change',
    load: () => import('./commands/intervene.js'),
  },
  circuit: {
    summary: 'show a graph as supernodes and its strongest paths (automatic supernodes)',
    load: () => import('./commands/circuit.js'),
  },
  'trace-batch': {
    summary: 'trace every prompt of a JSONL file (in-process, or queued for workers)',
    load: () => import('./commands/trace-batch.js'),
  },
  worker: { summary: 'take trace jobs from the ATLAS_QUEUE queue', load: () => import('./commands/worker.js') },
  collection: {
    summary: 'common circuit, clusters, and which prompts use a feature or path',
    load: () => import('./commands/collection.js'),
  },
  import: { summary: 'store a circuit-tracer / Neuronpedia graph JSON', load: () => import('./commands/import.js') },
  features: {
    summary: 'compute feature dashboards over a corpus (circuit-tracer format)',
    load: () => import('./commands/features.js'),
  },
  export: { summary: 'export a stored graph as JSON, SVG or PNG', load: () => import('./commands/export.js') },
  serve: { summary: 'serve the GraphQL API and the viewer', load: () => import('./commands/serve.js') },
  demo: { summary: 'trace the demo prompt, store it and serve the viewer', load: () => import('./commands/demo.js') },
};

export interface CommandModule {
  usage: string;
  run(argv: string[]): Promise<number>;
}

const USER_ERRORS = new Set(['UserInputError', 'ModelFormatError', 'StoreError', 'CancelledError']);

function printHelp(): void {
  const lines = Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(12)} ${command.summary}`);
  process.stdout.write(
    `usage: circuit-atlas <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n` +
      `Run 'circuit-atlas <command> --help' for a command's options.\n`,
  );
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    printHelp();
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`circuit-atlas: unknown command '${name}'\n`);
    printHelp();
    return 2;
  }
  const module = await command.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(module.usage.endsWith('\n') ? module.usage : `${module.usage}\n`);
    return 0;
  }
  return module.run(rest);
}

try {
  const code = await main(process.argv.slice(2));
  process.exitCode = code;
} catch (error) {
  if (error instanceof Error && USER_ERRORS.has(error.name)) {
    process.stderr.write(`circuit-atlas: ${error.message}\n`);
    process.exitCode = 1;
  } else {
    throw error;
  }
}
