/**
 * The circuit view's side panel for the clicked box: a supernode's members with their labels
 * (remove one to split it off), renaming, and interventions on the supernode — zero it, scale it,
 * or swap it for a supernode of another graph (the paper's Texas → California) — with the model's
 * new top predictions.
 */
import { getAutoSupernodes, interveneSupernodes, listGraphs } from '../api/client.js';
import type { ApiNode, CircuitNode, Supernode, SupernodeInterventionInput } from '../api/types.js';
import { el, formatNumber } from '../dom.js';
import { logitTable } from './intervene-panel.js';

export interface CircuitPanelActions {
  rename(from: string, to: string): void;
  /** Takes a member out of its supernode (it is drawn on its own). */
  removeMember(supernode: string, nodeId: string): void;
}

export interface CircuitPanelInput {
  graphId: string;
  model: string;
  node: CircuitNode;
  /** The state's supernode behind a supernode box. */
  supernode: Supernode | null;
  nodes: ReadonlyMap<string, ApiNode>;
}

export function renderCircuitPanel(
  container: HTMLElement,
  input: CircuitPanelInput,
  actions: CircuitPanelActions,
): void {
  const { node, supernode } = input;
  if (!supernode) {
    container.replaceChildren(
      el('h4', {}, node.label),
      el(
        'p',
        { class: 'muted' },
        `${node.kind} · ${node.kind === 'token' ? `position ${node.ctxIdx}` : `layer ${node.layers[0]}`}` +
          (node.kind === 'feature' ? ' · use Auto-group, or group it in the link graph, to make supernodes' : ''),
      ),
    );
    return;
  }
  const name = el('input', { class: 'supernode-name', value: supernode.name });
  const members = el(
    'ul',
    { class: 'supernode-members' },
    supernode.nodeIds.map((id) => {
      const member = input.nodes.get(id);
      return el(
        'li',
        { 'data-node-id': id },
        el('span', { class: 'member-label' }, member?.label ?? id),
        el('span', { class: 'muted' }, ` L${member?.layer ?? '?'} · ${id} · act ${formatNumber(member?.activation)}`),
        supernode.nodeIds.length > 1
          ? el(
              'button',
              {
                class: 'remove-member',
                title: 'split this feature off',
                onclick: () => actions.removeMember(supernode.name, id),
              },
              '×',
            )
          : null,
      );
    }),
  );
  const result = el('div', { class: 'supernode-intervention-result' });
  // Frozen (default): the clean run's attention patterns, the graph's own assumption. Free: heads may
  // re-attend to the changed features, as the model itself would (swaps transfer more fully).
  const freeAttention = el('input', { class: 'free-attention', type: 'checkbox' });
  const run = async (intervention: Partial<SupernodeInterventionInput> & Pick<SupernodeInterventionInput, 'mode'>) => {
    result.replaceChildren(el('p', { class: 'muted' }, 'running the model…'));
    delete result.dataset.done;
    try {
      const answer = await interveneSupernodes(
        input.graphId,
        [
          {
            supernode: { name: supernode.name, nodeIds: supernode.nodeIds },
            ...intervention,
          } as SupernodeInterventionInput,
        ],
        !freeAttention.checked,
      );
      result.replaceChildren(logitTable(answer.before, answer.after));
      result.dataset.attention = freeAttention.checked ? 'free' : 'frozen';
      result.dataset.done = 'true';
    } catch (error) {
      result.replaceChildren(el('p', { class: 'error' }, (error as Error).message));
    }
  };
  const factor = el('input', { class: 'scale-factor', type: 'number', step: 'any', value: 2 });
  const donorGraph = el('select', { class: 'donor-graph' }, el('option', { value: '' }, 'donor graph…'));
  const donorSupernode = el('select', { class: 'donor-supernode' });
  void listGraphs({ model: input.model, limit: 100 }).then((page) => {
    for (const g of page.items) if (g.id !== input.graphId) donorGraph.append(el('option', { value: g.id }, g.prompt));
  });
  donorGraph.addEventListener('change', async () => {
    donorSupernode.replaceChildren();
    if (!donorGraph.value) return;
    const found = await getAutoSupernodes(donorGraph.value);
    for (const s of found)
      donorSupernode.append(
        el('option', { value: JSON.stringify(s.nodeIds) }, `${s.label} (${s.nodeIds.length}, position ${s.ctxIdx})`),
      );
    donorSupernode.dataset.ready = 'true';
  });
  container.replaceChildren(
    el('h4', {}, `Supernode: ${supernode.name}`),
    el(
      'p',
      { class: 'muted' },
      `${supernode.nodeIds.length} features · ${node.layers[0] === node.layers[1] ? `layer ${node.layers[0]}` : `layers ${node.layers[0]}–${node.layers[1]}`} · position ${node.ctxIdx}`,
    ),
    el(
      'div',
      { class: 'supernode-rename' },
      name,
      el(
        'button',
        {
          class: 'rename-supernode',
          onclick: () => name.value.trim() && actions.rename(supernode.name, name.value.trim()),
        },
        'Rename',
      ),
    ),
    members,
    el('h4', {}, 'Intervene on this supernode'),
    el(
      'div',
      { class: 'supernode-intervene' },
      el('button', { class: 'zero-supernode', onclick: () => void run({ mode: 'zero' }) }, 'Zero'),
      ' ',
      el(
        'button',
        { class: 'scale-supernode', onclick: () => void run({ mode: 'scale', factor: Number(factor.value) }) },
        'Scale ×',
      ),
      factor,
      ' ',
      el(
        'label',
        { title: 'let attention patterns change (default: frozen at the clean run)' },
        freeAttention,
        ' attention free',
      ),
    ),
    el(
      'div',
      { class: 'supernode-swap' },
      'swap with ',
      donorGraph,
      donorSupernode,
      el(
        'button',
        {
          class: 'swap-supernode',
          onclick: () => {
            if (!donorGraph.value || !donorSupernode.value) return;
            const label = donorSupernode.selectedOptions[0]?.textContent ?? 'donor';
            void run({
              mode: 'replace',
              donorGraphId: donorGraph.value,
              donor: { name: label, nodeIds: JSON.parse(donorSupernode.value) as string[] },
            });
          },
        },
        'Swap',
      ),
    ),
    result,
  );
}
