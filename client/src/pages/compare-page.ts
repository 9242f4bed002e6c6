/**
 * Two graphs compared on one canvas: shared features (same layer, index and position from the end)
 * drawn once, features of only A or only B marked by colour, and the shared edges coloured by how
 * their weight changed from A to B; a legend; a table of the shared features with their labels and
 * aligned activation and influence differences; and the features found in only one of them.
 */
import { compareGraphs, getGraph } from '../api/client.js';
import type { ApiGraph, ApiNode, GraphComparison } from '../api/types.js';
import { el, formatNumber } from '../dom.js';
import { EdgeIndex, type IndexedEdge } from '../graph/edge-index.js';
import { LinkGraphView } from '../graph/link-graph.js';
import { mergeComparison, type MergedGraph } from '../graph/merged-compare.js';

/** Fills and borders of the merged view's three kinds of feature (legend and stylesheet agree). */
export const SIDE_COLOURS = {
  shared: { fill: '#9fd9c1', border: '#0d5c45', text: 'in both' },
  'only-a': { fill: '#b9d3ee', border: '#2166ac', text: 'only in A' },
  'only-b': { fill: '#f8c99a', border: '#b0601c', text: 'only in B' },
} as const;

export class ComparePage {
  private views: LinkGraphView[] = [];

  constructor(
    private readonly root: HTMLElement,
    private readonly ids: [string, string],
  ) {}

  async load(): Promise<void> {
    this.root.replaceChildren(el('p', { class: 'muted' }, 'comparing…'));
    const [comparison, a, b] = await Promise.all([
      compareGraphs(...this.ids),
      getGraph(this.ids[0]),
      getGraph(this.ids[1]),
    ]);
    if (!a || !b) throw new Error(`graph '${!a ? this.ids[0] : this.ids[1]}' is not in the store`);
    // The label the server resolved: a researcher's label, then the dashboard's, then the stored one.
    for (const node of [...a.nodes, ...b.nodes, ...comparison.onlyInA, ...comparison.onlyInB])
      node.label = node.shownLabel;
    const merged = mergeComparison(a, b, comparison, comparison.sharedEdges);
    const box = el('div', { class: 'link-graph compare-graph merged-graph' });
    this.root.replaceChildren(
      el(
        'div',
        { class: 'compare-page' },
        el(
          'div',
          { class: 'toolbar' },
          el('a', { href: '?', class: 'back' }, '← graphs'),
          el('h2', {}, 'Compare'),
          el(
            'span',
            { class: 'muted' },
            `${comparison.shared.length} shared features · ${comparison.onlyInA.length} only in A · ${comparison.onlyInB.length} only in B · ${merged.edges.length} shared edges`,
          ),
        ),
        el(
          'div',
          { class: 'compare-heads' },
          el('h3', {}, el('a', { href: `?graph=${encodeURIComponent(a.id)}` }, `A: ${a.prompt}`)),
          el('h3', {}, el('a', { href: `?graph=${encodeURIComponent(b.id)}` }, `B: ${b.prompt}`)),
        ),
        el('div', { class: 'merged-box' }, box, compareLegend()),
        this.sharedTable(comparison, a),
        el(
          'div',
          { class: 'only-lists' },
          this.onlyList('Only in A', comparison.onlyInA),
          this.onlyList('Only in B', comparison.onlyInB),
        ),
      ),
    );
    this.views = [this.draw(box, merged)];
    (window as unknown as { atlas: unknown }).atlas = { compare: this.views, merged };
    document.body.dataset.compareReady = '1';
  }

  private draw(box: HTMLElement, merged: MergedGraph): LinkGraphView {
    // An edge's weight here is its change from A to B: drawn relative to the largest change.
    const edges: IndexedEdge[] = merged.edges.map((e) => ({ ...e, share: null }));
    const view = new LinkGraphView(box, merged, new EdgeIndex(async () => []), () => {}, { legend: false });
    for (const node of merged.nodes) view.cy.getElementById(node.nodeId).addClass(node.side);
    view.drawEdges(edges);
    return view;
  }

  private sharedTable(comparison: GraphComparison, a: ApiGraph): HTMLElement {
    const labelOf = new Map(a.nodes.map((n) => [n.nodeId, n.label]));
    const delta = (x: number | null, y: number | null): string =>
      x === null || y === null ? '–' : `${y - x >= 0 ? '+' : '−'}${formatNumber(Math.abs(y - x))}`;
    const rows = [...comparison.shared]
      .sort((p, q) => (p.influenceA ?? 1) + (p.influenceB ?? 1) - ((q.influenceA ?? 1) + (q.influenceB ?? 1)))
      .map((s) =>
        el(
          'tr',
          { class: 'shared-row' },
          el('td', { title: `L${s.layer} #${s.index}` }, labelOf.get(s.nodeIdA) ?? `L${s.layer} #${s.index}`),
          el('td', { class: 'num muted' }, `L${s.layer} #${s.index}`),
          el('td', { class: 'num' }, s.positionFromEnd),
          el('td', { class: 'num' }, formatNumber(s.activationA)),
          el('td', { class: 'num' }, formatNumber(s.activationB)),
          el('td', { class: 'num' }, delta(s.activationA, s.activationB)),
          el('td', { class: 'num' }, formatNumber(s.influenceA)),
          el('td', { class: 'num' }, formatNumber(s.influenceB)),
          el('td', { class: 'num' }, delta(s.influenceA, s.influenceB)),
        ),
      );
    const numeric = new Set(['feature', 'pos from end', 'act A', 'act B', 'Δ act', 'infl A', 'infl B', 'Δ infl']);
    return el(
      'section',
      { class: 'shared-features' },
      el('h3', {}, `Shared features (${comparison.shared.length})`),
      el(
        'table',
        {},
        el(
          'tr',
          {},
          ['label', 'feature', 'pos from end', 'act A', 'act B', 'Δ act', 'infl A', 'infl B', 'Δ infl'].map((h) =>
            el('th', numeric.has(h) ? { class: 'num' } : {}, h),
          ),
        ),
        rows,
      ),
    );
  }

  private onlyList(title: string, nodes: ApiNode[]): HTMLElement {
    const features = nodes.filter((n) => n.kind === 'feature').sort((p, q) => (p.influence ?? 1) - (q.influence ?? 1));
    return el(
      'section',
      { class: 'only' },
      el('h3', {}, `${title} (${features.length})`),
      el(
        'table',
        {},
        el(
          'tr',
          {},
          el('th', {}, 'label'),
          el('th', { class: 'num' }, 'feature'),
          el('th', { class: 'num' }, 'act'),
          el('th', { class: 'num' }, 'infl'),
        ),
        features
          .slice(0, 25)
          .map((n) =>
            el(
              'tr',
              {},
              el('td', {}, n.label),
              el('td', { class: 'num muted' }, `L${n.layer} #${n.feature}`),
              el('td', { class: 'num' }, formatNumber(n.activation)),
              el('td', { class: 'num' }, formatNumber(n.influence)),
            ),
          ),
      ),
    );
  }

  destroy(): void {
    for (const view of this.views) view.destroy();
  }
}

/** The merged view's key: which graph a feature is in, and what an edge's colour and width say. */
function compareLegend(): HTMLElement {
  const swatch = (fill: string, border: string) =>
    el('span', { class: 'swatch', style: `background:${fill};border:1px solid ${border}` });
  return el(
    'div',
    { class: 'compare-legend' },
    ...Object.values(SIDE_COLOURS).map((c) => el('span', {}, swatch(c.fill, c.border), c.text)),
    el('span', {}, el('span', { class: 'line', style: 'background:#1a9850' }), 'edge stronger in B'),
    el('span', {}, el('span', { class: 'line', style: 'background:#762a83' }), 'edge weaker in B'),
    el('span', { class: 'muted' }, 'width, opacity ∝ |weight B − weight A| / largest change'),
  );
}
