/**
 * The circuit figure (@circuit-atlas/figure circuitFigure + writeCircuitSvg) on a real graph: the
 * tiny llama's reference graph from circuit-tracer, collapsed into automatic supernodes and into
 * none. Boxes never overlap, tokens sit along the bottom in prompt order, the logit on top, edges
 * climb; long labels are cut with an ellipsis and kept whole in <title>; the CLI's renderFigure
 * writes exactly this SVG.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildCircuitView, findSupernodes, fromGraphJson, type CircuitView } from '@circuit-atlas/tracer';
import {
  CIRCUIT_FIGURE,
  circuitFigure,
  estimateTextWidth,
  overlappingBoxes,
  writeCircuitSvg,
} from '@circuit-atlas/figure';
import { renderFigure } from '../src/figure/render-figure.js';

const FIXTURE = fileURLToPath(
  new URL('../../tracer/test/fixtures/reference/llama-tiny/dallas-state.graph.json', import.meta.url),
);
const doc = fromGraphJson(JSON.parse(readFileSync(FIXTURE, 'utf8')));
const supernodes = findSupernodes(doc);
const views: [string, CircuitView][] = [
  ['automatic supernodes', buildCircuitView(doc, supernodes)],
  ['no supernodes', buildCircuitView(doc, [])],
];

describe.each(views)('the circuit figure with %s', (_name, view) => {
  const spec = circuitFigure(view);

  it('places every node in a box of its own, wide enough for its label', () => {
    expect(spec.boxes.map((b) => b.id).sort()).toEqual(view.nodes.map((n) => n.id).sort());
    expect(overlappingBoxes(spec.boxes)).toEqual([]);
    for (const b of spec.boxes) {
      expect(b.width).toBeGreaterThanOrEqual(estimateTextWidth(b.text) + 2 * CIRCUIT_FIGURE.boxPadX);
      expect([...b.text].length).toBeLessThanOrEqual(CIRCUIT_FIGURE.maxLabelChars);
    }
  });

  it('puts the tokens along the bottom in prompt order and the logit on top; edges climb', () => {
    const tokens = spec.boxes.filter((b) => b.kind === 'token');
    const bottom = Math.max(...spec.boxes.map((b) => b.y));
    const ctx = new Map(view.nodes.map((n) => [n.id, n.ctxIdx]));
    for (const t of tokens) expect(t.y).toBe(bottom);
    const byPosition = [...tokens].sort((a, b) => ctx.get(a.id)! - ctx.get(b.id)!);
    expect(byPosition.map((t) => t.x)).toEqual([...byPosition.map((t) => t.x)].sort((a, b) => a - b));
    const logit = spec.boxes.find((b) => b.id === view.target)!;
    expect(logit.y).toBe(Math.min(...spec.boxes.map((b) => b.y)));
    const y = new Map(spec.boxes.map((b) => [b.id, b.y]));
    for (const e of spec.edges) expect(y.get(e.source)!).toBeGreaterThanOrEqual(y.get(e.target)!);
    // Every step of every path is drawn.
    const drawn = new Set(spec.edges.map((e) => `${e.source}>${e.target}`));
    for (const p of view.paths)
      for (let i = 1; i < p.nodes.length; i++) expect(drawn.has(`${p.nodes[i - 1]}>${p.nodes[i]}`)).toBe(true);
  });

  it('is what `export --view circuit` writes', async () => {
    const svg = writeCircuitSvg(spec);
    const cli = await renderFigure(doc, 'svg', {
      view: 'circuit',
      circuit: {
        supernodes: _name === 'no supernodes' ? [] : supernodes.map((s) => ({ name: s.label, nodeIds: s.members })),
      },
    });
    expect(cli.toString('utf8')).toBe(svg);
  });
});

it('cuts a long label with an ellipsis and keeps it whole in the box title', () => {
  const [view] = views.map(([, v]) => v);
  const long = 'a feature that reads the name of a state and says its capital city';
  const edited = { ...view, nodes: view.nodes.map((n) => (n.kind === 'logit' ? n : { ...n, label: long })) };
  const spec = circuitFigure(edited);
  const box = spec.boxes.find((b) => b.kind !== 'logit' && b.kind !== 'token')!;
  expect(box.text.endsWith('…')).toBe(true);
  expect(long.startsWith(box.text.slice(0, -1))).toBe(true);
  const svg = writeCircuitSvg(spec);
  expect(svg).toContain(`<title>${long}`);
  expect(svg).toContain(`>${box.text}</text>`);
  expect(overlappingBoxes(spec.boxes)).toEqual([]);
});
