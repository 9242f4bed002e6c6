/**
 * The node panel: the clicked node's inputs and outputs, positive and negative apart, each sorted
 * by |weight| and clickable (REFERENCE.md, "Node panel").
 */
import type { ApiNode } from '../api/types.js';
import { el, formatNumber } from '../dom.js';
import type { EdgeIndex, IndexedEdge } from '../graph/edge-index.js';

export interface NodePanelActions {
  open(nodeId: string): void;
  pathFrom(nodeId: string): void;
  pathTo(nodeId: string): void;
  togglePin(nodeId: string): void;
}

const ROWS_PER_LIST = 12;

function edgeList(
  title: string,
  edges: IndexedEdge[],
  otherEnd: (e: IndexedEdge) => string,
  nodes: ReadonlyMap<string, ApiNode>,
  open: (id: string) => void,
  sign: 'positive' | 'negative',
): HTMLElement {
  const rows = edges.slice(0, ROWS_PER_LIST).map((e) => {
    const other = nodes.get(otherEnd(e));
    return el(
      'li',
      { class: `edge-row ${sign}`, 'data-node-id': otherEnd(e), onclick: () => open(otherEnd(e)) },
      el('span', { class: 'weight' }, formatNumber(e.weight, 3)),
      el('span', { class: 'share' }, e.share === null ? '' : `${Math.round(Math.abs(e.share) * 100)}%`),
      el('span', { class: `glyph ${other?.kind ?? ''}` }),
      el('span', { class: 'name' }, other?.label ?? otherEnd(e)),
    );
  });
  return el(
    'section',
    { class: `edge-list ${sign}` },
    el('h4', {}, `${title} (${edges.length})`),
    rows.length ? el('ol', {}, rows) : el('p', { class: 'muted' }, 'none'),
    edges.length > ROWS_PER_LIST ? el('p', { class: 'muted' }, `+ ${edges.length - ROWS_PER_LIST} more`) : null,
  );
}

function nodeFacts(node: ApiNode): string {
  return [
    `${node.kind} · layer ${node.layer} · position ${node.ctxIdx}`,
    node.feature !== null && node.kind === 'feature' ? `feature #${node.feature}` : null,
    node.activation !== null ? `activation ${formatNumber(node.activation)}` : null,
    node.influence !== null ? `influence ${formatNumber(node.influence)}` : null,
    node.tokenProb !== null ? `p = ${formatNumber(node.tokenProb)}` : null,
  ]
    .filter(Boolean)
    .join(' · ');
}

/** The panel while the node's edges are on their way: what the page knows of the node already. */
export function renderPendingNodePanel(node: ApiNode): HTMLElement {
  return el(
    'div',
    { class: 'panel node-panel edges-pending', 'data-node-id': node.nodeId },
    el('h3', {}, node.label),
    el('p', { class: 'facts' }, nodeFacts(node)),
    el('p', { class: 'muted' }, 'reading inputs and outputs…'),
  );
}

export function renderNodePanel(
  node: ApiNode,
  nodes: ReadonlyMap<string, ApiNode>,
  edges: EdgeIndex,
  pinned: boolean,
  actions: NodePanelActions,
): HTMLElement {
  const inputs = edges.inputsOf(node.nodeId);
  const outputs = edges.outputsOf(node.nodeId);
  return el(
    'div',
    { class: 'panel node-panel', 'data-node-id': node.nodeId },
    el('h3', {}, node.label),
    el('p', { class: 'facts' }, nodeFacts(node)),
    el(
      'div',
      { class: 'actions' },
      el('button', { onclick: () => actions.togglePin(node.nodeId) }, pinned ? 'Unpin' : 'Pin'),
      el('button', { class: 'path-from', onclick: () => actions.pathFrom(node.nodeId) }, 'Path from here'),
      el('button', { class: 'path-to', onclick: () => actions.pathTo(node.nodeId) }, 'Path to here'),
    ),
    el(
      'div',
      { class: 'io' },
      el(
        'div',
        { class: 'inputs' },
        edgeList(
          'Inputs +',
          inputs.filter((e) => e.weight > 0),
          (e) => e.source,
          nodes,
          actions.open,
          'positive',
        ),
        edgeList(
          'Inputs −',
          inputs.filter((e) => e.weight < 0),
          (e) => e.source,
          nodes,
          actions.open,
          'negative',
        ),
      ),
      el(
        'div',
        { class: 'outputs' },
        edgeList(
          'Outputs +',
          outputs.filter((e) => e.weight > 0),
          (e) => e.target,
          nodes,
          actions.open,
          'positive',
        ),
        edgeList(
          'Outputs −',
          outputs.filter((e) => e.weight < 0),
          (e) => e.target,
          nodes,
          actions.open,
          'negative',
        ),
      ),
    ),
  );
}
