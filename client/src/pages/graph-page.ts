/**
 * One graph: the link graph, the subgraph of pinned nodes, and the side panels (node, feature,
 * paths, intervene, saved views, export); or, in circuit mode, the circuit view (supernodes and
 * the strongest token → logit paths) with its supernode panel. Every change goes through `update`, which writes the
 * URL first, so a reload reopens exactly this view.
 */
import {
  getAutoSupernodes,
  getCircuit,
  getGraph,
  getIncidentEdges,
  getView,
  listModels,
  saveView,
} from '../api/client.js';
import type { ApiGraph, ApiNode, CircuitView, Path } from '../api/types.js';
import { el, formatNumber } from '../dom.js';
import { downloadPng, downloadSvg } from '../figure/download.js';
import { linkFigure, subgraphFigure, writeFigureSvg } from '@circuit-atlas/figure';
import { topLogit } from '@circuit-atlas/figure';
import { circuitFigure, writeCircuitSvg } from '@circuit-atlas/figure';
import { CircuitGraphView } from '../graph/circuit-view.js';
import { renderCircuitPanel } from '../panels/circuit-panel.js';
import { EdgeIndex } from '../graph/edge-index.js';
import { LinkGraphView } from '../graph/link-graph.js';
import { SubgraphView } from '../graph/subgraph-view.js';
import { loadFeaturePanel } from '../panels/feature-panel.js';
import { renderIntervenePanel } from '../panels/intervene-panel.js';
import { renderNodePanel, renderPendingNodePanel } from '../panels/node-panel.js';
import { loadPathsPanel } from '../panels/paths-panel.js';
import type { ViewerState } from '../state/url-state.js';

export interface PageHost {
  state: ViewerState;
  /** Merges a change into the state and writes it to the URL. */
  update(change: Partial<ViewerState>): void;
}

export class GraphPage {
  private graph!: ApiGraph;
  private nodes = new Map<string, ApiNode>();
  private edges!: EdgeIndex;
  private link!: LinkGraphView;
  private subgraph!: SubgraphView;
  private circuit: CircuitGraphView | null = null;
  private circuitData: CircuitView | null = null;
  private renderedCircuit: string | null = null;
  private circuitRequest = 0;
  private modelId: string | null = null;
  private readonly panels = {
    node: el('div', { class: 'node-slot' }),
    feature: el('div', { class: 'feature-slot' }),
    paths: el('div', { class: 'paths-slot' }),
    intervene: el('div', { class: 'intervene-slot' }),
    views: el('div', { class: 'views-slot' }),
    circuit: el('div', { class: 'circuit-slot' }),
  };
  private renderedFeature: string | null = null;
  private renderedPath: string | null = null;
  private renderedSubgraph: string | null = null;
  private activePath: Path | null = null;

  constructor(
    private readonly root: HTMLElement,
    private readonly host: PageHost,
  ) {}

  private get state(): ViewerState {
    return this.host.state;
  }

  async load(): Promise<void> {
    this.root.replaceChildren(el('p', { class: 'muted' }, 'loading graph…'));
    const graph = await getGraph(this.state.graph!, this.state.nodeThreshold, this.state.edgeThreshold);
    performance.mark('atlas:nodes-received');
    if (!graph) {
      this.root.replaceChildren(
        el(
          'p',
          { class: 'error' },
          `There is no graph '${this.state.graph}'. `,
          el('a', { href: '?' }, 'Back to the list'),
        ),
      );
      return;
    }
    // A researcher's label first, then the dashboard's automatic one, then the stored one (resolved by the server).
    for (const node of graph.nodes) node.label = node.shownLabel;
    this.graph = graph;
    this.renderedFeature = null;
    this.renderedPath = null;
    this.renderedSubgraph = null;
    this.renderedCircuit = null;
    this.nodes = new Map(graph.nodes.map((n) => [n.nodeId, n]));
    // A saved view named in the URL (the demo's link): its groups become the state, once.
    if (this.state.viewId) {
      const view = await getView(this.state.viewId).catch(() => null);
      this.host.update({
        viewId: null,
        ...(view && view.graphId === graph.id ? { pinned: view.pinnedIds, supernodes: view.supernodes } : {}),
      });
    }
    const { nodeThreshold, edgeThreshold } = this.state;
    this.edges = new EdgeIndex((ids) => getIncidentEdges(graph, nodeThreshold, edgeThreshold, ids));
    listModels()
      .then((models) => {
        this.modelId = models.find((m) => m.id === graph.model || m.name === graph.model)?.id ?? null;
      })
      .catch(() => {});
    // Open on the top logit, as the reference viewer does, unless the URL says otherwise.
    if (!this.state.clicked || !this.nodes.has(this.state.clicked)) {
      this.host.update({ clicked: topLogit(graph)?.nodeId ?? null });
    }
    // The focus edges are asked for before Cytoscape is built, so its first frame styles and draws
    // nodes, edges and labels once (at 5,000 nodes a second full restyle costs about as much as the first).
    const focusEdges = this.state.mode === 'circuit' ? Promise.resolve() : this.edges.ensure(this.focusIds());
    await focusEdges.catch(() => {}); // apply() says what failed
    performance.mark('atlas:edges-received');
    this.render();
    performance.mark('atlas:page-rendered');
    this.apply();
    performance.mark('atlas:edges-applied');
    await nextPaint();
    // Marks for the benchmark: navigation start → the graph is on screen (large graphs: the first
    // screen, the other nodes follow in chunks) → every node is in the graph.
    performance.mark('atlas:graph-drawn');
    await this.link?.complete;
    performance.mark('atlas:graph-complete');
    document.body.dataset.graphReady = graph.id;
  }

  private render(): void {
    if (this.state.mode === 'circuit') return this.renderCircuitMode();
    const graph = this.graph;
    const slider = this.thresholdSlider('node', this.state.nodeThreshold ?? graph.settings.nodeThreshold);
    const edgeSlider = this.thresholdSlider('edge', this.state.edgeThreshold ?? graph.settings.edgeThreshold);
    const exportView = el(
      'select',
      { class: 'export-view' },
      el('option', { value: 'link' }, 'link graph'),
      el('option', { value: 'subgraph' }, 'subgraph'),
    );
    const linkBox = el('div', { class: 'link-graph', id: 'link-graph' });
    // Search inside the graph: pick a node by its label (or id) and it becomes the clicked node.
    const labels = el('datalist', { id: 'node-labels' });
    const find = el('input', { type: 'search', class: 'find-node', list: 'node-labels', placeholder: 'find node' });
    // The suggestions (one option per node) are built when the field is first used, not on every load.
    find.addEventListener(
      'focus',
      () => labels.replaceChildren(...graph.nodes.map((n) => el('option', { value: n.label }))),
      { once: true },
    );
    find.addEventListener('change', () => {
      const text = find.value.trim().toLowerCase();
      const match =
        graph.nodes.find((n) => n.label.toLowerCase() === text || n.nodeId.toLowerCase() === text) ??
        graph.nodes.find((n) => n.label.toLowerCase().includes(text));
      if (text && match) this.click(match.nodeId);
    });
    const subBox = el('div', { class: 'subgraph', id: 'subgraph' });
    const groupName = el('input', { class: 'group-name', placeholder: 'supernode name' });
    this.root.replaceChildren(
      el(
        'div',
        { class: 'graph-page' },
        el(
          'div',
          { class: 'toolbar' },
          el('a', { href: '?', class: 'back' }, '← graphs'),
          el('h2', { class: 'prompt', title: graph.prompt }, graph.prompt),
          el(
            'span',
            { class: 'muted stats' },
            `${graph.model} · ${graph.nodes.length} nodes` +
              (graph.scores
                ? ` · replacement ${formatNumber(graph.scores.replacement, 2)} · completeness ${formatNumber(graph.scores.completeness, 2)}`
                : ''),
          ),
          this.modeTabs(),
          // Fills the supernodes (and pins their members) from the API's automatic grouping.
          el('button', { class: 'auto-group', onclick: () => void this.autoGroup() }, 'Auto-group'),
          find,
          labels,
          slider,
          edgeSlider,
          el(
            'span',
            { class: 'export' },
            'export ',
            exportView,
            el('button', { class: 'export-svg', onclick: () => this.exportFigure('svg', exportView.value) }, 'SVG'),
            el(
              'button',
              { class: 'export-png', onclick: () => void this.exportFigure('png', exportView.value) },
              'PNG',
            ),
          ),
        ),
        el(
          'div',
          { class: 'workspace' },
          el(
            'div',
            { class: 'canvas-column' },
            linkBox,
            el(
              'div',
              // Sized for its pinned nodes before Cytoscape measures the link pane (a later refit redraws every node).
              { class: this.state.pinned.length === 0 ? 'subgraph-box empty' : 'subgraph-box' },
              el(
                'div',
                { class: 'subgraph-tools' },
                el('strong', {}, 'Subgraph'),
                el('span', { class: 'muted' }, ' Ctrl/⌘-click to pin; select (Shift-click or drag) to group '),
                groupName,
                el('button', { class: 'group', onclick: () => this.group(groupName.value) }, 'Group'),
                el('button', { class: 'rename', onclick: () => this.rename(groupName.value) }, 'Rename'),
                el('button', { class: 'ungroup', onclick: () => this.ungroup() }, 'Ungroup'),
                el('button', { class: 'clear-pins', onclick: () => this.clearPins() }, 'Clear'),
              ),
              subBox,
            ),
          ),
          el(
            'aside',
            { class: 'side' },
            this.panels.node,
            this.panels.feature,
            this.panels.paths,
            this.panels.intervene,
            this.panels.views,
          ),
        ),
      ),
    );
    this.destroy();
    this.link = new LinkGraphView(
      linkBox,
      graph,
      this.edges,
      ({ nodeId, toggle }) => (toggle ? this.togglePin(nodeId) : this.click(nodeId)),
      { clicked: this.state.clicked },
    );
    this.subgraph = new SubgraphView(subBox, (id) => {
      if (this.nodes.has(id)) this.click(id);
    });
    (window as unknown as { atlas: unknown }).atlas = { link: this.link, subgraph: this.subgraph, page: this };
    this.renderViews();
  }

  /** Draws everything that depends on the state. */
  private apply(): void {
    if (this.state.mode === 'circuit') return void this.applyCircuit();
    // Only the edges of clicked and pinned nodes are held: fetch what is missing, then draw.
    const focus = this.focusIds();
    if (!this.edges.holds(focus)) {
      this.edges.ensure(focus).then(
        () => this.apply(),
        (error: Error) => alertInline(this.root, `could not read the edges of the shown nodes: ${error.message}`),
      );
      return;
    }
    const { clicked, pinned, supernodes } = this.state;
    this.link.setFocus(clicked, pinned);
    // Rebuilding the subgraph would drop its selection: only when its pinned nodes or groups change.
    const subgraphKey = JSON.stringify([pinned, supernodes]);
    // The subgraph pane takes room only when it holds something (the link graph refits).
    this.root.querySelector('.subgraph-box')?.classList.toggle('empty', pinned.length === 0);
    if (subgraphKey !== this.renderedSubgraph) {
      this.subgraph.show(this.shownGraph(), pinned, supernodes);
      this.renderedSubgraph = subgraphKey;
    }
    this.subgraph.markClicked(clicked);
    const node = clicked ? this.nodes.get(clicked) : undefined;
    if (node) {
      this.panels.node.replaceChildren(
        renderNodePanel(node, this.nodes, this.edges, pinned.includes(node.nodeId), {
          open: (id) => this.click(id),
          togglePin: (id) => this.togglePin(id),
          pathFrom: (id) => this.setPathEnd('pathFrom', id),
          pathTo: (id) => this.setPathEnd('pathTo', id),
        }),
      );
    } else this.panels.node.replaceChildren(el('p', { class: 'muted' }, 'Click a node to see its inputs and outputs.'));
    if (node?.kind === 'feature' && node.feature !== null) {
      if (this.renderedFeature !== node.nodeId) {
        this.renderedFeature = node.nodeId;
        void loadFeaturePanel(this.panels.feature, this.graph.model, node, this.graph.id, (label) => {
          node.label = label || node.label;
        });
      }
    } else {
      this.renderedFeature = null;
      this.panels.feature.replaceChildren();
    }
    this.applyPaths();
    const chosen = [...new Set([...pinned, ...(clicked ? [clicked] : [])])]
      .map((id) => this.nodes.get(id))
      .filter((n): n is ApiNode => n?.kind === 'feature');
    renderIntervenePanel(this.panels.intervene, this.graph.prompt, this.modelId ?? this.graph.model, chosen);
  }

  private applyPaths(): void {
    const { pathFrom, pathTo } = this.state;
    const key = pathFrom && pathTo ? `${pathFrom}>${pathTo}` : null;
    if (key === null) {
      this.renderedPath = null;
      this.panels.paths.replaceChildren(
        el('h4', {}, 'Paths'),
        el(
          'p',
          { class: 'muted' },
          pathFrom
            ? `from ${this.nodes.get(pathFrom)?.label ?? pathFrom}: choose "Path to here" on another node`
            : 'Choose "Path from here" on one node and "Path to here" on another.',
        ),
      );
      return;
    }
    // setFocus cleared the edges: re-add the chosen path's, without asking the server again.
    if (key === this.renderedPath && this.activePath) {
      this.link.highlightPath(this.activePath.nodeIds, this.activePath.weights);
      return;
    }
    this.renderedPath = key;
    this.activePath = null;
    void loadPathsPanel(this.panels.paths, this.graph.id, pathFrom!, pathTo!, this.nodes, (path) => {
      this.activePath = path;
      this.link.highlightPath(path.nodeIds, path.weights);
    });
  }

  private clearPins(): void {
    this.host.update({ pinned: [], supernodes: [] });
    this.apply();
  }

  private click(nodeId: string): void {
    this.host.update({ clicked: nodeId });
    const node = this.nodes.get(nodeId);
    const held = this.edges.holds([nodeId]);
    // What the page already knows is shown at once (the node's facts); its inputs and outputs, and
    // its mark in the graph, follow when the server has sent its edges.
    if (node && !held && this.state.mode !== 'circuit') {
      // The canvas changes once, when the edges are here: a Cytoscape frame at 5,000 nodes would delay them.
      this.panels.node.replaceChildren(renderPendingNodePanel(node));
      void nextPaint().then(() => performance.mark('atlas:node-panel', { detail: nodeId }));
    }
    void this.edges
      .ensure([nodeId])
      .catch(() => {}) // apply() says what failed
      .then(() => {
        if (this.state.clicked !== nodeId) return; // another click came first
        performance.mark('atlas:click-edges-received', { detail: nodeId });
        this.apply();
        performance.mark('atlas:click-applied', { detail: nodeId });
        return nextPaint().then(() => {
          if (held) performance.mark('atlas:node-panel', { detail: nodeId });
          performance.mark('atlas:node-edges', { detail: nodeId });
        });
      });
  }

  /** The clicked and pinned nodes of this graph: whose edges are drawn. */
  private focusIds(): string[] {
    const { clicked, pinned } = this.state;
    return [...new Set([...pinned, ...(clicked ? [clicked] : [])])].filter((id) => this.nodes.has(id));
  }

  /** The graph with the edges the viewer holds (each with its server-computed share): what figures draw. */
  private shownGraph(): ApiGraph {
    return { ...this.graph, edges: this.edges.all() };
  }

  private togglePin(nodeId: string): void {
    const pinned = this.state.pinned.includes(nodeId)
      ? this.state.pinned.filter((id) => id !== nodeId)
      : [...this.state.pinned, nodeId];
    const supernodes = this.state.supernodes
      .map((s) => ({ ...s, nodeIds: s.nodeIds.filter((id) => pinned.includes(id)) }))
      .filter((s) => s.nodeIds.length > 0);
    this.host.update({ pinned, supernodes });
    this.apply();
  }

  private setPathEnd(end: 'pathFrom' | 'pathTo', nodeId: string): void {
    this.host.update({ [end]: nodeId });
    this.apply();
  }

  private group(name: string): void {
    const members = this.subgraph.selectedMembers();
    const trimmed = name.trim() || `group ${this.state.supernodes.length + 1}`;
    if (members.length < 2) return alertInline(this.root, 'Select at least two nodes in the subgraph to group them.');
    if (this.state.supernodes.some((s) => s.name === trimmed))
      return alertInline(this.root, `There is already a supernode named '${trimmed}'.`);
    const rest = this.state.supernodes
      .map((s) => ({ ...s, nodeIds: s.nodeIds.filter((id) => !members.includes(id)) }))
      .filter((s) => s.nodeIds.length > 0);
    this.host.update({ supernodes: [...rest, { name: trimmed, nodeIds: members }] });
    this.apply();
  }

  private rename(name: string): void {
    const [selected] = this.subgraph.selectedSupernodeNames();
    const trimmed = name.trim();
    if (!selected || !trimmed) return alertInline(this.root, 'Select one supernode and type its new name.');
    this.host.update({
      supernodes: this.state.supernodes.map((s) => (s.name === selected ? { ...s, name: trimmed } : s)),
    });
    this.apply();
  }

  private ungroup(): void {
    const names = this.subgraph.selectedSupernodeNames();
    this.host.update({ supernodes: this.state.supernodes.filter((s) => !names.includes(s.name)) });
    this.apply();
  }

  /** A pruning slider: cumulative node influence or edge score kept (REFERENCE.md, prune_graph). */
  private thresholdSlider(kind: 'node' | 'edge', value: number): HTMLElement {
    const slider = el('input', {
      type: 'range',
      class: kind === 'node' ? 'threshold' : 'edge-threshold',
      min: kind === 'node' ? 0.1 : 0.5,
      max: 1,
      step: kind === 'node' ? 0.05 : 0.01,
      value,
    });
    const shown = el('span', { class: 'threshold-value' }, value.toFixed(2));
    slider.addEventListener('input', () => (shown.textContent = Number(slider.value).toFixed(2)));
    slider.addEventListener('change', () => {
      this.host.update(
        kind === 'node' ? { nodeThreshold: Number(slider.value) } : { edgeThreshold: Number(slider.value) },
      );
      void this.load();
    });
    return el('label', { class: 'slider' }, `${kind} threshold `, slider, shown);
  }

  private renderViews(): void {
    const name = el('input', { class: 'view-name', placeholder: 'view name' });
    const status = el('span', { class: 'muted' });
    const list = el(
      'ul',
      { class: 'saved-views' },
      this.graph.views.map((view) =>
        el(
          'li',
          {},
          el(
            'a',
            { href: '#', onclick: (event: Event) => (event.preventDefault(), void this.openView(view.id)) },
            view.name,
          ),
          el('span', { class: 'muted' }, ` ${view.pinnedIds.length} pinned`),
        ),
      ),
    );
    const save = el(
      'button',
      {
        class: 'save-view',
        onclick: async () => {
          try {
            const view = await saveView({
              graphId: this.graph.id,
              name: name.value.trim() || `view ${this.graph.views.length + 1}`,
              pinnedIds: this.state.pinned,
              supernodes: this.state.supernodes,
              nodeThreshold: this.state.nodeThreshold,
              edgeThreshold: this.state.edgeThreshold,
            });
            this.graph.views.push(view);
            status.textContent = `saved '${view.name}'`;
            this.renderViews();
          } catch (error) {
            status.textContent = (error as Error).message;
          }
        },
      },
      'Save view',
    );
    this.panels.views.replaceChildren(el('h4', {}, 'Saved views'), list, el('div', {}, name, save, status));
  }

  private async openView(id: string): Promise<void> {
    const view = await getView(id);
    if (!view) return;
    const { pinnedIds: pinned, supernodes, nodeThreshold, edgeThreshold } = view;
    const reload = nodeThreshold !== this.state.nodeThreshold || edgeThreshold !== this.state.edgeThreshold;
    this.host.update({ pinned, supernodes, nodeThreshold, edgeThreshold });
    if (reload) void this.load();
    else this.apply();
  }

  /** The figure of the link graph or the subgraph, from the drawn positions; or the circuit figure. */
  figureSvg(view: string): string {
    if (view === 'circuit') {
      const spec = this.circuit?.figure;
      if (!spec) throw new Error('the circuit view has not been drawn yet');
      return writeCircuitSvg(spec);
    }
    if (view === 'subgraph') {
      return writeFigureSvg(
        subgraphFigure(this.shownGraph(), {
          pinnedIds: this.state.pinned,
          supernodes: this.state.supernodes,
          positions: this.subgraph.positions(),
        }),
      );
    }
    return writeFigureSvg(
      linkFigure(this.shownGraph(), { clickedId: this.state.clicked, pinnedIds: this.state.pinned }),
    );
  }

  private async exportFigure(format: 'svg' | 'png', view: string): Promise<void> {
    const svg = this.figureSvg(view);
    const filename = `${this.graph.id}-${view}.${format}`;
    if (format === 'svg') downloadSvg(svg, filename);
    else await downloadPng(svg, filename);
  }

  destroy(): void {
    this.link?.destroy();
    this.subgraph?.destroy();
    this.circuit?.destroy();
    // Forget them, so that a second destroy (a mode switch) does not destroy them twice.
    this.link = undefined as unknown as LinkGraphView;
    this.subgraph = undefined as unknown as SubgraphView;
    this.circuit = null;
  }

  /** Link graph | Circuit: which picture of the graph the page shows (in the URL as mode). */
  private modeTabs(): HTMLElement {
    const tab = (mode: 'link' | 'circuit', text: string) =>
      el(
        'button',
        {
          class: `mode-tab mode-${mode}${this.state.mode === mode ? ' active' : ''}`,
          onclick: () => {
            if (this.state.mode === mode) return;
            this.host.update({ mode });
            this.renderedCircuit = null;
            this.renderedSubgraph = null;
            this.render();
            this.apply();
          },
        },
        text,
      );
    return el('span', { class: 'mode-tabs' }, tab('link', 'Link graph'), tab('circuit', 'Circuit'));
  }

  /** Fills the supernodes from the API's automatic grouping (pinning their members), replacing the old groups. */
  private async autoGroup(): Promise<void> {
    const status = this.root.querySelector('.auto-group-status');
    if (status) status.textContent = 'grouping…';
    try {
      const found = await getAutoSupernodes(this.graph.id, this.state.nodeThreshold);
      const supernodes = found.map((s) => ({ name: s.label, nodeIds: s.nodeIds }));
      const pinned = [...new Set([...this.state.pinned, ...supernodes.flatMap((s) => s.nodeIds)])];
      this.host.update({ supernodes, pinned, circuitSelected: null });
      if (status) status.textContent = `${supernodes.length} supernodes`;
      this.apply();
    } catch (error) {
      if (status) status.textContent = (error as Error).message;
    }
  }

  private renderCircuitMode(): void {
    const graph = this.graph;
    const box = el('div', { class: 'circuit-graph', id: 'circuit-graph' });
    this.root.replaceChildren(
      el(
        'div',
        { class: 'graph-page circuit-mode' },
        el(
          'div',
          { class: 'toolbar' },
          el('a', { href: '?', class: 'back' }, '← graphs'),
          el('h2', { class: 'prompt', title: graph.prompt }, graph.prompt),
          el('span', { class: 'muted stats' }, `${graph.model} · ${graph.nodes.length} nodes`),
          this.modeTabs(),
          el('button', { class: 'auto-group', onclick: () => void this.autoGroup() }, 'Auto-group'),
          el(
            'button',
            {
              class: 'ungroup-all',
              onclick: () => {
                this.host.update({ supernodes: [], circuitSelected: null });
                this.apply();
              },
            },
            'No groups',
          ),
          el('span', { class: 'muted auto-group-status' }),
          el(
            'span',
            { class: 'export' },
            'export circuit ',
            el('button', { class: 'export-svg', onclick: () => void this.exportFigure('svg', 'circuit') }, 'SVG'),
            el('button', { class: 'export-png', onclick: () => void this.exportFigure('png', 'circuit') }, 'PNG'),
          ),
        ),
        el(
          'div',
          { class: 'workspace' },
          el(
            'div',
            { class: 'canvas-column' },
            box,
            el(
              'p',
              { class: 'muted circuit-help' },
              'Tokens at the bottom, the top logit at the top; boxes are supernodes (purple) and features; ' +
                'green edges excite, purple inhibit, width by share of the target’s input. Click a box for its members.',
            ),
          ),
          el('aside', { class: 'side' }, this.panels.circuit, this.panels.views),
        ),
      ),
    );
    this.destroy();
    this.circuit = new CircuitGraphView(box, (id) => {
      const index = /^sn(\d+)$/.exec(id);
      this.host.update({ circuitSelected: index ? (this.state.supernodes[Number(index[1])]?.name ?? id) : id });
      this.apply();
    });
    (window as unknown as { atlas: unknown }).atlas = { circuit: this.circuit, page: this };
    this.renderViews();
  }

  /** Fetches the circuit for the state's supernodes when they changed, draws it, fills the panel. */
  private async applyCircuit(): Promise<void> {
    const { supernodes, nodeThreshold, edgeThreshold } = this.state;
    const key = JSON.stringify([supernodes, nodeThreshold, edgeThreshold]);
    if (key !== this.renderedCircuit) {
      this.renderedCircuit = key;
      const request = ++this.circuitRequest;
      try {
        const data = await getCircuit(this.graph.id, supernodes, { nodeThreshold, edgeThreshold });
        if (request !== this.circuitRequest || !this.circuit) return;
        this.circuitData = data;
        this.circuit.show(circuitFigure({ ...data, prompt: this.graph.prompt, promptTokens: this.graph.promptTokens }));
        await nextPaint();
        document.body.dataset.circuitReady = String(request);
      } catch (error) {
        if (request !== this.circuitRequest) return;
        this.panels.circuit.replaceChildren(el('p', { class: 'error' }, (error as Error).message));
        return;
      }
    }
    this.applyCircuitSelection();
  }

  private applyCircuitSelection(): void {
    const data = this.circuitData;
    if (!data || !this.circuit) return;
    const selected = this.state.circuitSelected;
    const index = this.state.supernodes.findIndex((s) => s.name === selected);
    const boxId = index >= 0 ? `sn${index}` : selected;
    const node = data.nodes.find((n) => n.id === boxId);
    this.circuit.markSelected(node ? node.id : null);
    if (!node) {
      this.panels.circuit.replaceChildren(
        el('h4', {}, 'Circuit'),
        el(
          'p',
          { class: 'muted' },
          `${data.nodes.filter((n) => n.kind === 'supernode').length} supernodes, ${data.paths.length} paths to the logit. ` +
            (this.state.supernodes.length === 0
              ? 'Auto-group collapses features into supernodes.'
              : 'Click a supernode to see, rename, split or intervene on it.'),
        ),
      );
      return;
    }
    renderCircuitPanel(
      this.panels.circuit,
      {
        graphId: this.graph.id,
        model: this.graph.model,
        node,
        supernode: index >= 0 ? this.state.supernodes[index] : null,
        nodes: this.nodes,
      },
      {
        rename: (from, to) => {
          if (this.state.supernodes.some((s) => s.name === to)) return;
          this.host.update({
            supernodes: this.state.supernodes.map((s) => (s.name === from ? { ...s, name: to } : s)),
            circuitSelected: to,
          });
          this.apply();
        },
        removeMember: (name, nodeId) => {
          this.host.update({
            supernodes: this.state.supernodes
              .map((s) => (s.name === name ? { ...s, nodeIds: s.nodeIds.filter((id) => id !== nodeId) } : s))
              .filter((s) => s.nodeIds.length > 0),
          });
          this.apply();
        },
      },
    );
  }
}

/** Resolves after the browser has painted what was just drawn. */
function nextPaint(): Promise<void> {
  return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve())));
}

function alertInline(root: HTMLElement, message: string): void {
  const box = root.querySelector('.subgraph-tools');
  box?.querySelector('.inline-error')?.remove();
  box?.append(el('span', { class: 'inline-error error' }, message));
}
