/**
 * Clustering graphs by circuit similarity: Jaccard similarity of feature sets (bitsets, so 1,000
 * graphs are half a million pair comparisons of a few hundred words each) and average-linkage
 * agglomerative clustering by the nearest-neighbour chain (O(n²) time, exact for average linkage
 * because it is reducible), cut where the average similarity drops below a threshold.
 */

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** similarity[i * n + j] = |A_i ∩ A_j| / |A_i ∪ A_j| (1 on the diagonal; two empty sets count as 1). */
export function jaccardMatrix(sets: readonly (readonly string[])[]): Float64Array {
  const n = sets.length;
  const bit = new Map<string, number>();
  for (const set of sets) for (const key of set) if (!bit.has(key)) bit.set(key, bit.size);
  const words = Math.max(1, Math.ceil(bit.size / 32));
  const bits = new Uint32Array(n * words); // row i: graph i's features
  const sizes = new Int32Array(n);
  sets.forEach((set, i) => {
    for (const key of new Set(set)) {
      const b = bit.get(key)!;
      bits[i * words + (b >>> 5)] |= 1 << (b & 31);
      sizes[i]++;
    }
  });
  const similarity = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    similarity[i * n + i] = 1;
    for (let j = i + 1; j < n; j++) {
      let shared = 0;
      for (let w = 0; w < words; w++) shared += popcount(bits[i * words + w] & bits[j * words + w]);
      const union = sizes[i] + sizes[j] - shared;
      const s = union === 0 ? 1 : shared / union;
      similarity[i * n + j] = s;
      similarity[j * n + i] = s;
    }
  }
  return similarity;
}

/**
 * Average-linkage clusters of n items with the given similarity matrix: items end in one cluster
 * when the dendrogram joins them at an average similarity ≥ minSimilarity. Returns member index
 * lists, each sorted, in order of their first member.
 */
export function averageLinkageClusters(similarity: Float64Array, n: number, minSimilarity: number): number[][] {
  const distance = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) distance[i] = 1 - similarity[i];
  const size = new Int32Array(n).fill(1);
  const active = new Uint8Array(n).fill(1);
  let activeCount = n;
  const merges: { a: number; b: number; height: number }[] = [];
  const chain: number[] = [];
  while (activeCount > 1) {
    if (chain.length === 0) chain.push(active.indexOf(1));
    const a = chain[chain.length - 1];
    const previous = chain.length > 1 ? chain[chain.length - 2] : -1;
    // Nearest active neighbour of a; the previous chain element wins ties, so the chain ends.
    let nearest = previous;
    let best = previous >= 0 ? distance[a * n + previous] : Infinity;
    for (let c = 0; c < n; c++) {
      if (!active[c] || c === a) continue;
      const d = distance[a * n + c];
      if (d < best) {
        best = d;
        nearest = c;
      }
    }
    if (nearest !== previous) {
      chain.push(nearest);
      continue;
    }
    // a and previous are reciprocal nearest neighbours: merge them into the lower index.
    chain.length -= 2;
    const keep = Math.min(a, previous);
    const drop = Math.max(a, previous);
    merges.push({ a: keep, b: drop, height: best });
    for (let c = 0; c < n; c++) {
      if (!active[c] || c === keep || c === drop) continue;
      const d = (size[keep] * distance[keep * n + c] + size[drop] * distance[drop * n + c]) / (size[keep] + size[drop]);
      distance[keep * n + c] = d;
      distance[c * n + keep] = d;
    }
    size[keep] += size[drop];
    active[drop] = 0;
    activeCount--;
  }
  // Cut: join the items of every merge at distance ≤ 1 − minSimilarity (union-find).
  const parent = Array.from({ length: n }, (_, i) => i);
  const root = (i: number): number => (parent[i] === i ? i : (parent[i] = root(parent[i])));
  const cut = 1 - minSimilarity + 1e-12;
  for (const merge of merges) if (merge.height <= cut) parent[root(merge.b)] = root(merge.a);
  const groups = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const r = root(i);
    const group = groups.get(r) ?? [];
    group.push(i);
    groups.set(r, group);
  }
  return [...groups.values()].sort((x, y) => x[0] - y[0]);
}
