/**
 * Two graphs side by side: shared features (same layer, index and position from the end) filled in
 * green on both link graphs, a table of their activation and influence differences, and the
 * features found in only one of them.
 */
import { compareGraphs, getGraph } from '../api/client.js';
import type { ApiGraph, ApiNode, GraphComparison } from '../api/types.js';
import { el, formatNumber } from '../dom.js';
import { EdgeIndex } from '../graph/edge-index.js';
import { LinkGraphView } from '../graph/link-graph.js';
import { nodeLabel, topLogit } from '@circuit-atlas/figure';

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
    for (const node of [...a.nodes, ...b.nodes, ...comparison.onlyInA, ...comparison.onlyInB])
      node.label = nodeLabel(node);
    const boxA = el('div', { class: 'link-graph compare-graph' });
    const boxB = el('div', { class: 'link-graph compare-graph' });
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
            `${comparison.shared.length} shared features · ${comparison.onlyInA.length} only in A · ${comparison.onlyInB.length} only in B`,
          ),
        ),
        el(
          'div',
          { class: 'side-by-side' },
          el(
            'div',
            { class: 'compare-column' },
            el('h3', {}, el('a', { href: `?graph=${encodeURIComponent(a.id)}` }, `A: ${a.prompt}`)),
            boxA,
          ),
          el(
            'div',
            { class: 'compare-column' },
            el('h3', {}, el('a', { href: `?graph=${encodeURIComponent(b.id)}` }, `B: ${b.prompt}`)),
            boxB,
          ),
        ),
        this.sharedTable(comparison),
        el(
          'div',
          { class: 'only-lists' },
          this.onlyList('Only in A', comparison.onlyInA),
          this.onlyList('Only in B', comparison.onlyInB),
        ),
      ),
    );
    this.views = [
      this.draw(boxA, a, new Set(comparison.shared.map((s) => s.nodeIdA))),
      this.draw(boxB, b, new Set(comparison.shared.map((s) => s.nodeIdB))),
    ];
    (window as unknown as { atlas: unknown }).atlas = { compare: this.views };
    document.body.dataset.compareReady = '1';
  }

  private draw(box: HTMLElement, graph: ApiGraph, shared: Set<string>): LinkGraphView {
    const view = new LinkGraphView(box, graph, new EdgeIndex(async () => []), () => {});
    view.cy
      .nodes()
      .filter((n) => shared.has(n.id()))
      .addClass('shared labelled');
    view.setFocus(topLogit(graph)?.nodeId ?? null, []);
    view.cy
      .nodes()
      .filter((n) => shared.has(n.id()))
      .addClass('shared');
    return view;
  }

  private sharedTable(comparison: GraphComparison): HTMLElement {
    const delta = (x: number | null, y: number | null): string =>
      x === null || y === null ? '–' : `${y - x >= 0 ? '+' : ''}${formatNumber(y - x)}`;
    const rows = [...comparison.shared]
      .sort((p, q) => (p.influenceA ?? 1) + (p.influenceB ?? 1) - ((q.influenceA ?? 1) + (q.influenceB ?? 1)))
      .map((s) =>
        el(
          'tr',
          { class: 'shared-row' },
          el('td', {}, `L${s.layer} #${s.index}`),
          el('td', { class: 'num' }, s.positionFromEnd),
          el('td', { class: 'num' }, formatNumber(s.activationA)),
          el('td', { class: 'num' }, formatNumber(s.activationB)),
          el('td', { class: 'num' }, delta(s.activationA, s.activationB)),
          el('td', { class: 'num' }, formatNumber(s.influenceA)),
          el('td', { class: 'num' }, formatNumber(s.influenceB)),
          el('td', { class: 'num' }, delta(s.influenceA, s.influenceB)),
        ),
      );
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
          ['feature', 'pos from end', 'act A', 'act B', 'Δ act', 'infl A', 'infl B', 'Δ infl'].map((h) =>
            el('th', {}, h),
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
        'ol',
        {},
        features
          .slice(0, 25)
          .map((n) => el('li', {}, n.label, ' ', el('span', { class: 'muted' }, `act ${formatNumber(n.activation)}`))),
      ),
    );
  }

  destroy(): void {
    for (const view of this.views) view.destroy();
  }
}
