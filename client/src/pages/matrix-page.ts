/**
 * Features × prompts across N stored graphs of one model (`?matrix=id,id,...`): the rows are the
 * features the collection analysis finds in at least two of them (commonCircuit), the columns the
 * graphs (each links to its page), a cell the feature's largest activation in that graph, shaded
 * relative to the row's largest, empty where the graph lacks the feature.
 */
import { getGraph, graphql } from '../api/client.js';
import type { ApiGraph, ApiNode } from '../api/types.js';
import { el, formatNumber } from '../dom.js';

interface MatrixRow {
  layer: number;
  index: number;
  graphCount: number;
}

const MAX_ROWS = 80;

const featureKey = (layer: number, index: number) => `${layer}:${index}`;

async function recurringFeatures(model: string, graphIds: string[], minShare: number): Promise<MatrixRow[]> {
  const data = await graphql<{ commonCircuit: { features: MatrixRow[] } }>(
    `
      query ($c: CollectionInput!, $k: Float, $n: Int) {
        commonCircuit(collection: $c, minShare: $k, maxFeatures: $n, maxEdges: 1) {
          features {
            layer
            index
            graphCount
          }
        }
      }
    `,
    { c: { model, graphIds }, k: minShare, n: MAX_ROWS },
  );
  return data.commonCircuit.features;
}

export class MatrixPage {
  constructor(
    private readonly root: HTMLElement,
    private readonly ids: string[],
  ) {}

  async load(): Promise<void> {
    this.root.replaceChildren(el('p', { class: 'muted' }, `reading ${this.ids.length} graphs…`));
    const graphs = await Promise.all(this.ids.map((id) => getGraph(id)));
    const missing = this.ids.filter((_, i) => !graphs[i]);
    if (missing.length) throw new Error(`not in the store: ${missing.join(', ')}`);
    const shown = graphs as ApiGraph[];
    const model = shown[0].model;
    const other = shown.find((g) => g.model !== model);
    if (other)
      throw new Error(`graph '${other.id}' is of model '${other.model}', not '${model}': compare one model's graphs`);
    // Largest activation and the shown label of each feature, per graph.
    const cells = shown.map((graph) => {
      const byFeature = new Map<string, ApiNode>();
      for (const node of graph.nodes) {
        if (node.kind !== 'feature' || node.feature === null) continue;
        const key = featureKey(node.layer, node.feature);
        const seen = byFeature.get(key);
        if (!seen || (node.activation ?? 0) > (seen.activation ?? 0)) byFeature.set(key, node);
      }
      return byFeature;
    });
    const rows = (await recurringFeatures(model, this.ids, 2 / shown.length)).sort(
      (a, b) => b.graphCount - a.graphCount || a.layer - b.layer || a.index - b.index,
    );
    const labelOf = (row: MatrixRow): string => {
      for (const byFeature of cells) {
        const node = byFeature.get(featureKey(row.layer, row.index));
        if (node) return node.shownLabel;
      }
      return `L${row.layer} #${row.index}`;
    };
    const header = el(
      'tr',
      {},
      el('th', {}, 'feature'),
      el('th', { class: 'num' }, 'graphs'),
      shown.map((graph, i) =>
        el(
          'th',
          { class: 'prompt-head', title: graph.prompt },
          el(
            'a',
            { href: `?graph=${encodeURIComponent(graph.id)}`, class: 'matrix-graph' },
            `${i + 1}. ${graph.prompt}`,
          ),
        ),
      ),
    );
    const body = rows.map((row) => {
      const values = cells.map((byFeature) => byFeature.get(featureKey(row.layer, row.index))?.activation ?? null);
      const largest = Math.max(0, ...values.map((v) => Math.abs(v ?? 0)));
      return el(
        'tr',
        { class: 'matrix-row', 'data-feature': featureKey(row.layer, row.index) },
        el(
          'td',
          { title: `L${row.layer} #${row.index}` },
          labelOf(row),
          el('span', { class: 'muted' }, ` L${row.layer} #${row.index}`),
        ),
        el('td', { class: 'num' }, `${row.graphCount}/${shown.length}`),
        values.map((value) => {
          if (value === null) return el('td', { class: 'num cell absent' }, '');
          const strength = largest > 0 ? Math.abs(value) / largest : 0;
          return el(
            'td',
            {
              class: 'num cell present',
              style: `background: rgba(33, 102, 172, ${(0.12 + 0.6 * strength).toFixed(2)})`,
            },
            formatNumber(value, 2),
          );
        }),
      );
    });
    this.root.replaceChildren(
      el(
        'div',
        { class: 'matrix-page' },
        el(
          'div',
          { class: 'toolbar' },
          el('a', { href: '?', class: 'back' }, '← graphs'),
          el('h2', {}, 'Features × prompts'),
          el(
            'span',
            { class: 'muted' },
            `${model} · ${shown.length} graphs · ${rows.length} features found in at least two of them · cell: largest activation, shaded relative to the row`,
          ),
        ),
        el('div', { class: 'matrix-scroll' }, el('table', { class: 'feature-matrix' }, header, body)),
      ),
    );
    document.body.dataset.matrixReady = '1';
  }
}
