/**
 * `npm run bench -- circuits`: how readable the automatic circuits of the demo model are (issue 10,
 * "See the circuit"). Over the Dallas prompt and N held-out cities drawn by a seeded RNG from
 * world.json's `held_out.capital` (not hand-picked):
 *  - path rate: the automatic circuit view (supernodes + strongest paths to the capital's logit)
 *    holds a path city token → supernode named for the city's state → supernode named for the
 *    capital (or "say <capital>") → the capital's logit. Also the structural rate (the same path
 *    shape city token → supernode at the city → supernode at the last token → logit, names ignored).
 *  - swap rate: replace the state supernode (the most influential one at the city's position, named
 *    or not) by the same of a graph of a city in another state (drawn at random); success = that
 *    state's capital on top; run twice, attention patterns frozen at the clean run (`intervene`'s
 *    default) and free to change (`--free-attention`). CIRCUITS_FACTOR scales the donor's activations.
 *  - ablation: zero the state supernode; median drop of the capital's probability.
 * Names are checked against world.json (ground truth); the algorithms never see it.
 * Env: CIRCUITS_SEED (default 2026), CIRCUITS_N (default 20), CIRCUITS_FACTOR (donor scale, default 1),
 * CIRCUITS_NAMES=labels (name supernodes by member labels only, not by their contexts),
 * CIRCUITS_MODEL_DIR (model folder with transcoders/ and dashboards/, default models/atlas-world).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom as rng } from '@circuit-atlas/schema'; // drawn cities: the same on every run
import {
  buildCircuitView,
  dashboardContextIndex,
  dashboardLabels,
  findSupernodes,
  interveneOnSupernodes,
  loadReplacementModel,
  renameFromContexts,
  supernodeMembers,
  traceGraph,
  type GraphDocument,
  type ReplacementModel,
  type Supernode,
} from '@circuit-atlas/tracer';
import { median } from './stats.js';

const root = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));
/** The model folder measured: CIRCUITS_MODEL_DIR, else the demo's (transcoder experiments point it at their builds). */
const MODEL_DIR = process.env.CIRCUITS_MODEL_DIR ?? root('models/atlas-world');
const TEMPLATE = (city: string) => `Fact: the capital of the state containing ${city} is`;

interface World {
  states: { name: string; capital: string; cities: { name: string }[] }[];
  held_out: { capital: string[] };
}

function sample<T>(items: T[], n: number, random: () => number): T[] {
  const pool = [...items];
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, n);
}

/**
 * Whether a supernode label names an entity of world.json: its full name, or a word of the name that
 * no other entity of its kind has ("Island" of Rhode Island, "Salt" of Salt Lake City; not "South"
 * or "City"). Token-level labels can only say one word of a multi-word name.
 */
function namer(all: string[]): (label: string, entity: string) => boolean {
  const owners = new Map<string, Set<string>>();
  for (const name of all)
    for (const word of name.toLowerCase().split(' ')) owners.set(word, (owners.get(word) ?? new Set()).add(name));
  return (label, entity) => {
    const l = label
      .toLowerCase()
      .replace(/ \(\d+\)$/, '')
      .replace(/^say\s+/, '')
      .trim();
    const e = entity.toLowerCase();
    return l === e || (e.split(' ').includes(l) && owners.get(l)?.size === 1);
  };
}

interface Traced {
  doc: GraphDocument;
  supernodes: Supernode[];
  cityPos: number;
}

/** The state supernode: the most influential one at the city's position, whatever its name. */
function stateSupernode(t: Traced): Supernode | null {
  return t.supernodes.filter((s) => s.ctxIdx === t.cityPos).sort((a, b) => b.influence - a.influence)[0] ?? null;
}

export async function run(): Promise<void> {
  const seed = Number(process.env.CIRCUITS_SEED ?? 2026);
  const n = Number(process.env.CIRCUITS_N ?? 20);
  const factor = Number(process.env.CIRCUITS_FACTOR ?? 1);
  const world = JSON.parse(readFileSync(path.join(MODEL_DIR, 'world.json'), 'utf8')) as World;
  const stateOf = new Map(world.states.flatMap((s) => s.cities.map((c) => [c.name, s] as const)));
  const namesState = namer(world.states.map((s) => s.name));
  const namesCapital = namer(world.states.map((s) => s.capital));
  const random = rng(seed);
  const cities = [
    'Dallas',
    ...sample(
      world.held_out.capital.filter((c) => c !== 'Dallas'),
      n,
      random,
    ),
  ];
  process.stdout.write(`seed ${seed}; cities: ${cities.join(', ')}\n`);

  const model: ReplacementModel = await loadReplacementModel(MODEL_DIR);
  const dashboards = path.join(MODEL_DIR, 'dashboards');
  const labels = await dashboardLabels(dashboards, model.nLayers);
  const useContexts = process.env.CIRCUITS_NAMES !== 'labels';
  const indexStart = performance.now();
  const contexts = useContexts ? await dashboardContextIndex(dashboards, model) : null;
  if (contexts)
    process.stdout.write(
      `naming by contexts: ${contexts.contexts.length} dashboard contexts indexed in ${((performance.now() - indexStart) / 1000).toFixed(1)} s\n`,
    );
  else process.stdout.write(`naming by member labels only (CIRCUITS_NAMES=labels)\n`);
  const trace = async (city: string): Promise<Traced> => {
    const { document } = await traceGraph(model, TEMPLATE(city), { id: city.replace(/\W/g, '_') });
    const found = findSupernodes(document, labels);
    const supernodes = contexts ? renameFromContexts(document, found, contexts) : found;
    return { doc: document, supernodes, cityPos: document.promptTokens.length - 2 };
  };
  try {
    let named = 0;
    let structural = 0;
    const misses: string[] = [];
    let swaps = 0;
    // Swaps with attention patterns frozen at the clean run (the default of `intervene`), and free.
    const swapOk = { frozen: 0, free: 0 };
    const swapMisses: string[] = [];
    const drops: number[] = [];
    for (const city of cities) {
      const state = stateOf.get(city)!;
      const t = await trace(city);
      const { doc } = t;
      const capitalLogit = doc.nodes.find(
        (node) => node.kind === 'logit' && model.tokenizer.tokenString(node.feature!) === state.capital.split(' ')[0],
      );
      const cityToken = doc.nodes.find((node) => node.kind === 'embedding' && node.ctxIdx === t.cityPos);
      const sn = new Map(t.supernodes.map((s) => [s.id, s]));
      let hasNamed = false;
      let hasShape = false;
      let best = '';
      if (capitalLogit && cityToken) {
        const view = buildCircuitView(doc, t.supernodes, { target: capitalLogit.nodeId });
        const label = new Map(view.nodes.map((v) => [v.id, v.label]));
        for (const path of view.paths) {
          if (path.nodes[0] !== cityToken.nodeId) continue;
          const inner = path.nodes.slice(1, -1);
          const stateAt = inner.findIndex((id) => namesState(label.get(id) ?? '', state.name));
          if (stateAt >= 0 && inner.slice(stateAt + 1).some((id) => namesCapital(label.get(id) ?? '', state.capital)))
            hasNamed = true;
          const atCity = inner.findIndex((id) => sn.get(id)?.ctxIdx === t.cityPos);
          if (atCity >= 0 && inner.slice(atCity + 1).some((id) => sn.get(id)?.ctxIdx === doc.promptTokens.length - 1))
            hasShape = true;
        }
        best = view.paths
          .filter((p) => p.nodes[0] === cityToken.nodeId)
          .slice(0, 1)
          .map((p) => p.nodes.map((id) => label.get(id)).join(' → '))
          .join('');
      }
      if (hasNamed) named++;
      else
        misses.push(
          `${city} (${state.name} → ${state.capital}): ${capitalLogit ? best || 'no path from the city token' : 'capital not among the logits'}`,
        );
      if (hasShape) structural++;

      // Swap with a city of another state, and ablation, on the state supernode.
      const recipient = stateSupernode(t);
      if (!recipient) {
        swapMisses.push(`${city}: no supernode at the city's position`);
        continue;
      }
      const others = world.states.filter((s) => s.name !== state.name);
      const other = others[Math.floor(random() * others.length)];
      const donorCity = other.cities[Math.floor(random() * other.cities.length)].name;
      const donor = await trace(donorCity);
      const donorSn = stateSupernode(donor);
      swaps++;
      if (!donorSn) {
        swapMisses.push(`${city} ← ${donorCity}: no supernode at the donor city's position`);
        continue;
      }
      const members = supernodeMembers(doc, recipient.members);
      const swap = [{ mode: 'replace' as const, members, donor: supernodeMembers(donor.doc, donorSn.members), factor }];
      const swapped = await interveneOnSupernodes(model, doc.prompt, swap, { topK: 3 });
      const freed = await interveneOnSupernodes(model, doc.prompt, swap, { topK: 3, frozenAttention: false });
      const top = swapped.after[0];
      const wanted = other.capital.split(' ')[0];
      const shown = (list: typeof swapped.after) =>
        list.map((l) => `${l.token} ${l.probability.toFixed(2)}`).join(', ');
      if (top.token === wanted) swapOk.frozen++;
      if (freed.after[0].token === wanted) swapOk.free++;
      if (top.token !== wanted || freed.after[0].token !== wanted)
        swapMisses.push(
          `${city} (${state.name}) ← ${donorCity} (${other.name}, wants ${other.capital}): frozen ${shown(swapped.after)} | free ${shown(freed.after)}`,
        );
      const ablated = await interveneOnSupernodes(model, doc.prompt, [{ mode: 'zero', members }], { topK: 50 });
      const p = (list: typeof ablated.before) =>
        list.find((l) => l.token === state.capital.split(' ')[0])?.probability ?? 0;
      drops.push(p(ablated.before) - p(ablated.after));
      process.stdout.write(
        `${city.padEnd(14)} path ${hasNamed ? 'yes' : 'no '} shape ${hasShape ? 'yes' : 'no '} | state sn "${recipient.label}" (${recipient.members.length}) ← "${donorSn.label}" of ${donorCity}: ${top.token} ${top.probability.toFixed(2)} (free: ${freed.after[0].token} ${freed.after[0].probability.toFixed(2)}) | ablation p(${state.capital}) ${p(ablated.before).toFixed(3)} → ${p(ablated.after).toFixed(3)}\n`,
      );
    }
    const pct = (a: number, b: number) => `${((100 * a) / Math.max(1, b)).toFixed(1)}% (${a}/${b})`;
    process.stdout.write(`\npath rate (named state → named capital): ${pct(named, cities.length)}\n`);
    process.stdout.write(
      `structural rate (city sn → last-token sn, names ignored): ${pct(structural, cities.length)}\n`,
    );
    process.stdout.write(`misses:\n${misses.map((m) => `  ${m}`).join('\n')}\n`);
    process.stdout.write(
      `swap success (donor scale ${factor}): attention frozen ${pct(swapOk.frozen, swaps)}, attention free ${pct(swapOk.free, swaps)}\n`,
    );
    process.stdout.write(`swap misses:\n${swapMisses.map((m) => `  ${m}`).join('\n')}\n`);
    process.stdout.write(
      `ablation: median drop of the capital's probability ${median(drops).toFixed(3)} over ${drops.length}\n`,
    );
  } finally {
    await model.dispose();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await run();
