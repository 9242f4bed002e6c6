/**
 * mulberry32: a tiny seeded PRNG, uniform in [0, 1). One definition for everything that must draw
 * the same numbers from the same seed: the tracer's example reservoirs, generated test graphs and
 * benchmark inputs.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
