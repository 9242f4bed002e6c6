/**
 * Intervene: set the activations of chosen features (the pinned and clicked ones) and see how the
 * model's top logits change (frozen attention, as the reference's interventions).
 */
import { intervene } from '../api/client.js';
import type { ApiNode, LogitProb } from '../api/types.js';
import { el, formatNumber } from '../dom.js';

export function logitTable(before: LogitProb[], after: LogitProb[]): HTMLElement {
  const afterBy = new Map(after.map((l) => [l.tokenId, l.probability]));
  const beforeBy = new Map(before.map((l) => [l.tokenId, l.probability]));
  const tokens = new Map<number, string>();
  for (const l of [...before, ...after]) tokens.set(l.tokenId, l.token);
  const rows = [...tokens.entries()]
    .sort((a, b) => (afterBy.get(b[0]) ?? 0) - (afterBy.get(a[0]) ?? 0))
    .slice(0, 10)
    .map(([id, token]) => {
      const p0 = beforeBy.get(id);
      const p1 = afterBy.get(id);
      const delta = (p1 ?? 0) - (p0 ?? 0);
      return el(
        'tr',
        {},
        el('td', { class: 'tok' }, token),
        el('td', {}, formatNumber(p0 ?? null)),
        el('td', {}, formatNumber(p1 ?? null)),
        el('td', { class: delta >= 0 ? 'positive' : 'negative' }, `${delta >= 0 ? '+' : ''}${formatNumber(delta)}`),
      );
    });
  return el(
    'table',
    { class: 'logit-table' },
    el('tr', {}, el('th', {}, 'token'), el('th', {}, 'before'), el('th', {}, 'after'), el('th', {}, 'Δ')),
    rows,
  );
}

export function renderIntervenePanel(
  container: HTMLElement,
  prompt: string,
  model: string | null,
  features: ApiNode[],
): void {
  if (features.length === 0) {
    container.replaceChildren(
      el('h4', {}, 'Intervene'),
      el('p', { class: 'muted' }, 'Click or pin features to set their activations.'),
    );
    return;
  }
  const inputs = features.map((f) => el('input', { type: 'number', step: 'any', value: 0, 'data-node-id': f.nodeId }));
  const result = el('div', { class: 'intervention-result' });
  const run = el(
    'button',
    {
      class: 'run-intervention',
      onclick: async () => {
        result.replaceChildren(el('p', { class: 'muted' }, 'running the model…'));
        try {
          const answer = await intervene(
            prompt,
            model,
            features.map((f, i) => ({
              layer: f.layer,
              position: f.ctxIdx,
              feature: f.feature!,
              value: Number(inputs[i].value),
            })),
          );
          result.replaceChildren(logitTable(answer.before, answer.after));
        } catch (error) {
          result.replaceChildren(el('p', { class: 'error' }, `intervene: ${(error as Error).message}`));
        }
      },
    },
    'Run',
  );
  container.replaceChildren(
    el('h4', {}, 'Intervene'),
    el(
      'table',
      { class: 'intervention-inputs' },
      features.map((f, i) =>
        el(
          'tr',
          {},
          el('td', {}, f.label),
          el('td', { class: 'muted' }, `now ${formatNumber(f.activation)}`),
          el('td', {}, 'set to ', inputs[i]),
        ),
      ),
    ),
    run,
    result,
  );
}
