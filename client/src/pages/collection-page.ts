/**
 * A model's stored graphs as a collection (`?collection=<model>`): the common circuit (features and
 * edges in at least a share of the graphs, with mean ± spread), clusters of prompts whose circuits
 * are alike, and, for a clicked feature, which prompts use it. Every graph links to its page.
 */
import {
  getClusters,
  getCommonCircuit,
  getFeatureUses,
  type CommonCircuit,
  type GraphClustering,
} from '../api/collection.js';
import { el, formatNumber } from '../dom.js';

const graphLink = (id: string, text: string) => el('a', { href: `?graph=${encodeURIComponent(id)}` }, text);
const percent = (share: number) => `${Math.round(share * 100)}%`;

export class CollectionPage {
  private minShare = 0.5;
  private minSimilarity = 0.5;
  private readonly uses = el('div', { class: 'feature-uses' });

  constructor(
    private readonly root: HTMLElement,
    private readonly model: string,
  ) {}

  async load(): Promise<void> {
    this.root.replaceChildren(el('p', { class: 'muted' }, `reading the graphs of ${this.model}…`));
    const [circuit, clustering] = await Promise.all([
      getCommonCircuit(this.model, this.minShare),
      getClusters(this.model, this.minSimilarity),
    ]);
    const share = el('input', {
      type: 'number',
      min: 0.05,
      max: 1,
      step: 0.05,
      value: this.minShare,
      'aria-label': 'minimum share',
    });
    const similarity = el('input', {
      type: 'number',
      min: 0.05,
      max: 1,
      step: 0.05,
      value: this.minSimilarity,
      'aria-label': 'minimum similarity',
    });
    const apply = el(
      'button',
      {
        class: 'apply-collection',
        onclick: () => {
          this.minShare = Number(share.value);
          this.minSimilarity = Number(similarity.value);
          void this.load().catch((error: Error) => this.root.append(el('p', { class: 'error' }, error.message)));
        },
      },
      'Apply',
    );
    this.root.replaceChildren(
      el(
        'div',
        { class: 'collection-page' },
        el(
          'div',
          { class: 'toolbar' },
          el('a', { href: `?model=${encodeURIComponent(this.model)}`, class: 'back' }, '← graphs'),
          el('h2', {}, `Collection: ${this.model}`),
          el('span', { class: 'muted' }, `${circuit.graphCount} graphs · ${circuit.transcoderSet}`),
          el('label', {}, 'features and edges in ≥ ', share),
          el('label', {}, 'clusters at similarity ≥ ', similarity),
          apply,
        ),
        this.circuitTables(circuit),
        this.uses,
        this.clusterList(clustering),
      ),
    );
    document.body.dataset.collectionReady = '1';
  }

  private circuitTables(circuit: CommonCircuit): HTMLElement {
    const featureRows = circuit.features.map((f) =>
      el(
        'tr',
        { class: 'common-feature', 'data-feature': `${f.layer}:${f.index}` },
        el(
          'td',
          {},
          el('button', { class: 'link', onclick: () => void this.showUses(f.layer, f.index) }, `${f.layer}:${f.index}`),
        ),
        el('td', {}, String(f.graphCount)),
        el('td', {}, percent(f.share)),
        el('td', {}, `${formatNumber(f.activation.mean)} ± ${formatNumber(f.activation.spread)}`),
      ),
    );
    const edgeRows = circuit.edges.map((e) =>
      el(
        'tr',
        { class: 'common-edge' },
        el('td', {}, `${e.sourceLayer}:${e.sourceIndex}`),
        el(
          'td',
          {},
          e.targetKind === 'logit' ? `logit ${JSON.stringify(e.targetToken)}` : `${e.targetLayer}:${e.targetIndex}`,
        ),
        el('td', {}, String(e.graphCount)),
        el('td', {}, percent(e.share)),
        el('td', {}, `${formatNumber(e.weight.mean)} ± ${formatNumber(e.weight.spread)}`),
      ),
    );
    const head = (...names: string[]) =>
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          names.map((n) => el('th', {}, n)),
        ),
      );
    return el(
      'section',
      { class: 'common-circuit' },
      el('h3', {}, `Common circuit: in ≥ ${percent(circuit.minShare)} of the graphs`),
      el(
        'table',
        { class: 'common-features' },
        head('feature', 'graphs', 'share', 'activation mean ± spread'),
        el('tbody', {}, featureRows),
      ),
      el(
        'table',
        { class: 'common-edges' },
        head('source', 'target', 'graphs', 'share', 'weight mean ± spread'),
        el('tbody', {}, edgeRows),
      ),
    );
  }

  private clusterList(clustering: GraphClustering): HTMLElement {
    return el(
      'section',
      { class: 'clusters' },
      el('h3', {}, `${clustering.clusters.length} clusters (similarity ≥ ${clustering.minSimilarity})`),
      clustering.clusters.map((c, i) =>
        el(
          'div',
          { class: 'cluster' },
          el(
            'h4',
            {},
            `Cluster ${i + 1}: ${c.graphIds.length} graphs, cohesion ${formatNumber(c.cohesion)}`,
            c.graphIds.length >= 2
              ? el(
                  'a',
                  { href: `?compare=${c.graphIds.slice(0, 2).map(encodeURIComponent).join(',')}`, class: 'muted' },
                  ' compare two',
                )
              : null,
          ),
          el(
            'p',
            { class: 'muted' },
            'shared: ',
            c.features.map((f) => `${f.layer}:${f.index} (${f.graphCount})`).join(', '),
          ),
          el(
            'ul',
            {},
            c.graphIds.map((id, j) => el('li', {}, graphLink(id, c.prompts[j]))),
          ),
        ),
      ),
    );
  }

  private async showUses(layer: number, index: number): Promise<void> {
    this.uses.replaceChildren(el('p', { class: 'muted' }, 'reading…'));
    const page = await getFeatureUses(this.model, layer, index);
    this.uses.replaceChildren(
      el('h3', {}, `Feature ${layer}:${index} is used by ${page.total} graph(s)`),
      el(
        'ul',
        { class: 'feature-use-list' },
        page.items.map((item) =>
          el(
            'li',
            {},
            graphLink(item.graphId, item.prompt),
            ` · ${item.occurrences}× · max ${formatNumber(item.maxActivation)}`,
          ),
        ),
      ),
    );
    document.body.dataset.usesReady = `${layer}:${index}`;
  }
}
