/**
 * Per-request loader of stored feature labels: a graph of 2,000 nodes asks for `featureLabel` on
 * every feature node, so lookups are deduplicated per feature and at most a few run at once.
 */
import type { FeatureKey, FeatureLabel, GraphStore } from '../store/graph-store.js';
import { limitConcurrency } from './concurrency-limit.js';

/** Concurrent store lookups per request (a Neo4j session each). */
const MAX_IN_FLIGHT = 8;

export class FeatureLabelLoader {
  private readonly loaded = new Map<string, Promise<FeatureLabel | null>>();
  private readonly limited = limitConcurrency(MAX_IN_FLIGHT);

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
}
