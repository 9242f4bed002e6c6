import { describe, expect, it } from 'vitest';
import { UserInputError } from '../src/errors.js';
import { GraphBuilder } from '../src/onnx/graph-builder.js';
import { GraphSession } from '../src/onnx/session.js';

describe('the CUDA execution provider', () => {
  it('runs where tools/install-cuda.sh has installed it, and elsewhere names the missing library and the fix', async () => {
    const g = new GraphBuilder('double');
    const x = g.input('x', 'float32', [2]);
    g.output(g.add(x, x), 'y', 'float32', [2]);
    let session: GraphSession;
    try {
      session = await GraphSession.create('double', g.build(), 'cuda');
    } catch (error) {
      // No CUDA here (CI): the error is the user's to fix and says how to install the provider.
      expect(error).toBeInstanceOf(UserInputError);
      const message = (error as Error).message;
      expect(message).toMatch(/^the CUDA execution provider is not available \(.*Failed to load shared library\)/);
      expect(message).toContain('bash tools/install-cuda.sh');
      expect(message).not.toContain(String.fromCharCode(27)); // no terminal colour codes from ORT's log
      return;
    }
    try {
      const out = await session.run({ x: { data: Float32Array.from([1, 2]), dims: [2] } });
      expect(Array.from(out.y.data)).toEqual([2, 4]);
    } finally {
      await session.release();
    }
  });
});
