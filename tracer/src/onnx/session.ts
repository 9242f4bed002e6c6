/**
 * ONNX Runtime sessions for the graphs built by `graph-builder.ts`: CPU by default, the CUDA
 * execution provider when asked for. Inputs and outputs are plain typed arrays with their dims.
 */
import { availableParallelism } from 'node:os';
import ort from 'onnxruntime-node';
import type { BuiltGraph } from './graph-builder.js';
import { UserInputError } from '../errors.js';

export type ExecutionProvider = 'cpu' | 'cuda';

/** A dense float32 tensor: row-major data and its dims. */
export interface Tensor {
  data: Float32Array;
  dims: number[];
}

export type Feed = Tensor | { data: BigInt64Array; dims: number[] };

export class GraphSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly name: string,
  ) {}

  static async create(
    name: string,
    graph: Uint8Array | BuiltGraph,
    executionProvider: ExecutionProvider = 'cpu',
  ): Promise<GraphSession> {
    // A graph whose weights ONNX Runtime reads from checkpoint files names their folder.
    const { bytes: model, externalDataFolder } =
      graph instanceof Uint8Array ? { bytes: graph, externalDataFolder: null } : graph;
    try {
      const session = await ort.InferenceSession.create(model, {
        executionProviders: [executionProvider],
        graphOptimizationLevel: 'all',
        interOpNumThreads: 1,
        intraOpNumThreads: intraOpThreads(),
        // Each session's arena keeps its largest run's buffers for good; over ~100 sessions that is GBs.
        enableCpuMemArena: false,
        extra: {
          // Spinning threads starve everything else on a busy machine (measured: 10-50x slower blocks).
          session: {
            intra_op: { allow_spinning: '0' },
            // Weights given as external data (GraphBuilder.storedRows) are read from this folder.
            ...(externalDataFolder ? { model_external_initializers_file_folder_path: externalDataFolder } : {}),
          },
          // Constant folding would turn each Cast of a 16-bit weight into a float32 copy of it.
          optimization: { disable_specified_optimizers: 'ConstantFolding' },
        },
      });
      return new GraphSession(session, name);
    } catch (error) {
      if (executionProvider === 'cuda') {
        throw new UserInputError(
          `the CUDA execution provider is not available (${cudaFailure((error as Error).message)}); ` +
            `install it with \`bash tools/install-cuda.sh\` and export the LD_LIBRARY_PATH it prints, ` +
            `or use the cpu execution provider`,
        );
      }
      throw error;
    }
  }

  /** Runs the graph and returns the requested outputs (all outputs when none are named). */
  async run(feeds: Record<string, Feed>, fetches?: string[]): Promise<Record<string, Tensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, feed] of Object.entries(feeds)) {
      ortFeeds[name] = new ort.Tensor(feed.data instanceof BigInt64Array ? 'int64' : 'float32', feed.data, feed.dims);
    }
    const results = fetches ? await this.session.run(ortFeeds, fetches) : await this.session.run(ortFeeds);
    const out: Record<string, Tensor> = {};
    for (const [name, tensor] of Object.entries(results)) {
      out[name] = { data: tensor.data as Float32Array, dims: tensor.dims.map(Number) };
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Intra-op threads per session: ATLAS_ORT_THREADS when set, else every core. A trace awaits each
 * run, so the JavaScript side is idle while ONNX Runtime works (measured at 4,096 targets on 2
 * cores: 2 threads traced in 0.61× the time of 1). The server's tracer processes run at a lower
 * priority, so requests are still answered while they use every core (server/src/jobs/child-runner.ts).
 */
function intraOpThreads(): number {
  const configured = Number(process.env.ATLAS_ORT_THREADS);
  if (Number.isInteger(configured) && configured > 0) return configured;
  return availableParallelism();
}

/** ONNX Runtime colours the log lines it puts into some error messages. */
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/**
 * The first line of ONNX Runtime's message when the CUDA provider fails to load ("Failed to load
 * shared library"; ORT logs which library to stderr: the provider itself, a CUDA library, or
 * libcuda.so.1 where no NVIDIA driver is installed).
 */
function cudaFailure(message: string): string {
  return message.replace(ANSI_COLOUR, '').split('\n')[0].trim();
}
