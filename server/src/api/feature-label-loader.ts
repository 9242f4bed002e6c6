/**
 * Per-request loader of stored feature labels: a graph of 2,000 nodes asks for `featureLabel` on
 * every feature node, so lookups are deduplicated per feature and at most a few run at once.
 */
import type { FeatureKey, FeatureLabel, GraphStore } from '../store/graph-store.js';

/** Concurrent store lookups per request (a Neo4j session each). */
const MAX_IN_FLIGHT = 8;

export class FeatureLabelLoader {
  private readonly loaded = new Map<string, Promise<FeatureLabel | null>>();
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly store: GraphStore) {}

  load(feature: FeatureKey): Promise<FeatureLabel | null> {
    const key = `${feature.model}\u0000${feature.transcoderSet}\u0000${feature.layer}\u0000${feature.index}`;
    let label = this.loaded.get(key);
    if (!label) {
      label = this.limited(() => this.store.getFeatureLabel(feature));
      this.loaded.set(key, label);
    }
    return label;
  }

  private async limited<T>(task: () => Promise<T>): Promise<T> {
    if (this.inFlight >= MAX_IN_FLIGHT) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.inFlight++;
    try {
      return await task();
    } finally {
      this.inFlight--;
      this.waiting.shift()?.();
    }
  }
}
