/**
 * Ground truth for label tests, from the demo world's world.json (never used for labelling): which
 * state's city, if any, a dashboard example's activating token belongs to.
 */
import { readFileSync } from 'node:fs';
import type { DetailExample, FeatureDetail } from '../../src/labels/feature-dashboard.js';

interface WorldFile {
  states: { name: string; capital: string; cities: { name: string }[] }[];
}

export interface CityName {
  state: string;
  city: string;
}

export class WorldTruth {
  /** City (non-capital and capital) token sequences → state and city name. */
  private readonly cities: { tokens: string[]; name: CityName }[] = [];
  readonly stateNames: string[];

  constructor(worldFile: string) {
    const world = JSON.parse(readFileSync(worldFile, 'utf8')) as WorldFile;
    this.stateNames = world.states.map((s) => s.name);
    for (const state of world.states) {
      for (const city of [...state.cities.map((c) => c.name), state.capital]) {
        this.cities.push({ tokens: city.split(' '), name: { state: state.name, city } });
      }
    }
  }

  /** The city whose name covers the example's activating token, if any. */
  cityAt(example: DetailExample): CityName | null {
    const { tokens, train_token_ind: i } = example;
    for (const { tokens: name, name: city } of this.cities) {
      for (let start = i - name.length + 1; start <= i; start++) {
        if (start >= 0 && name.every((token, k) => tokens[start + k] === token)) return city;
      }
    }
    return null;
  }

  /**
   * The state a feature's top contexts are dominated by: at least `share` of the "Top activations"
   * examples activate on a city of that state. `cities` lists the distinct cities among them.
   */
  dominantState(dashboard: FeatureDetail, share = 0.6): { state: string; cities: string[] } | null {
    const top = dashboard.examples_quantiles[0]?.examples ?? [];
    if (top.length === 0) return null;
    const byState = new Map<string, Set<string>>();
    const counts = new Map<string, number>();
    for (const example of top) {
      const city = this.cityAt(example);
      if (!city) continue;
      counts.set(city.state, (counts.get(city.state) ?? 0) + 1);
      const set = byState.get(city.state) ?? new Set<string>();
      set.add(city.city);
      byState.set(city.state, set);
    }
    const [state, count] = [...counts].sort((a, b) => b[1] - a[1])[0] ?? [null, 0];
    if (state === null || count < share * top.length) return null;
    return { state, cities: [...byState.get(state)!] };
  }
}
