/**
 * What the commands that run a model on one prompt (`trace`, `intervene`) share: the prompt as the
 * one positional argument, `--model`, `--transcoders`, `--execution-provider`, numeric options, and
 * loading the model those name. Bad flags become UserInputErrors that point at the command's help.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { UserInputError } from '@circuit-atlas/schema';
import type { ReplacementModel } from '@circuit-atlas/tracer';

const MODEL_OPTIONS = {
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

/** Parses `circuit-atlas <command> "<prompt>" --model <dir> ...` with the command's own `options`. */
export function parsePromptCommand<const Options extends ParseArgsOptionsConfig>(
  command: string,
  argv: string[],
  options: Options,
) {
  const help = `see 'circuit-atlas ${command} --help'`;
  let parsed;
  try {
    parsed = parseArgs<{ args: string[]; allowPositionals: true; options: typeof MODEL_OPTIONS & Options }>({
      args: argv,
      allowPositionals: true,
      options: { ...MODEL_OPTIONS, ...options },
    });
  } catch (error) {
    throw new UserInputError(`${(error as Error).message}; ${help}`);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new UserInputError(`give exactly one prompt in quotes; ${help}`);
  const { model: modelDir, transcoders: transcodersDir } = values as { model?: string; transcoders?: string };
  if (!modelDir) throw new UserInputError(`--model <dir or org/name> is required`);
  const executionProvider = executionProviderOption(
    (values as { 'execution-provider'?: string })['execution-provider'],
  );
  const loadModel = async (): Promise<ReplacementModel> => {
    const { loadReplacementModel } = await import('@circuit-atlas/tracer'); // lazily: --help stays fast
    return loadReplacementModel(modelDir, { transcodersDir, executionProvider });
  };
  return { prompt: positionals[0], values, loadModel };
}
