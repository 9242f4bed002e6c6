/**
 * What the commands share: flags parsed one way (a bad flag is a UserInputError that points at the
 * command's help), `--model`, `--transcoders`, `--execution-provider` and loading the model those
 * name, numeric options; and for the commands that run a model on one prompt (`trace`, `intervene`)
 * the prompt as the one positional argument.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { UserInputError } from '@circuit-atlas/schema';
import type { ReplacementModel } from '@circuit-atlas/tracer';

/** The flags of every command that loads a model. */
export const MODEL_OPTIONS = {
  model: { type: 'string' },
  transcoders: { type: 'string' },
  'execution-provider': { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;

export function numberOption(value: string | undefined, name: string, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new UserInputError(`--${name} must be ${integer ? 'an integer' : 'a number'}, got '${value}'`);
  }
  return n;
}

export function executionProviderOption(value: string | undefined): 'cpu' | 'cuda' {
  if (value === undefined || value === 'cpu' || value === 'cuda') return value ?? 'cpu';
  throw new UserInputError(`--execution-provider must be cpu or cuda, got '${value}'`);
}

/** `see 'circuit-atlas <command> --help'`: what every usage error of a command ends with. */
export const seeHelp = (command: string) => `see 'circuit-atlas ${command} --help'`;

/** Parses `circuit-atlas <command> ...` (node:util parseArgs); an unknown or incomplete flag is a UserInputError. */
export function parseCommandArgs<
  const Options extends ParseArgsOptionsConfig,
  const Positionals extends boolean = false,
>(command: string, argv: string[], options: Options, allowPositionals?: Positionals) {
  try {
    return parseArgs<{ args: string[]; allowPositionals: Positionals; options: Options }>({
      args: argv,
      allowPositionals: (allowPositionals ?? false) as Positionals,
      options,
    });
  } catch (error) {
    throw new UserInputError(`${(error as Error).message}; ${seeHelp(command)}`);
  }
}

/** The text of a file the user named; one that cannot be read is a UserInputError naming it. */
export async function readUserFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new UserInputError(
      `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

/** How to load the model that `--transcoders` and `--execution-provider` describe. */
export function modelLoadOptions(values: { transcoders?: string; 'execution-provider'?: string }): {
  transcodersDir: string | undefined;
  executionProvider: 'cpu' | 'cuda';
} {
  return {
    transcodersDir: values.transcoders,
    executionProvider: executionProviderOption(values['execution-provider']),
  };
}

/** Parses `circuit-atlas <command> "<prompt>" --model <dir> ...` with the command's own `options`. */
export function parsePromptCommand<const Options extends ParseArgsOptionsConfig>(
  command: string,
  argv: string[],
  options: Options,
) {
  const { values, positionals } = parseCommandArgs(command, argv, { ...MODEL_OPTIONS, ...options }, true);
  if (positionals.length !== 1) throw new UserInputError(`give exactly one prompt in quotes; ${seeHelp(command)}`);
  const modelValues = values as { model?: string; transcoders?: string; 'execution-provider'?: string };
  const modelDir = modelValues.model;
  if (!modelDir) throw new UserInputError(`--model <dir or org/name> is required`);
  const load = modelLoadOptions(modelValues);
  const loadModel = async (): Promise<ReplacementModel> => {
    const { loadReplacementModel } = await import('@circuit-atlas/tracer'); // lazily: --help stays fast
    return loadReplacementModel(modelDir, load);
  };
  return { prompt: positionals[0], values, loadModel };
}
