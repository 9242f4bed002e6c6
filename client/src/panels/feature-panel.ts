/**
 * The feature panel: editable label (saved to the store), top activating contexts with per-token
 * highlighting, top/bottom logit effects, activation frequency, and the other stored graphs the
 * feature occurs in (each a link).
 */
import { getFeature, setFeatureLabel } from '../api/client.js';
import type { ApiNode, Feature, FeatureDashboard, TokenActivation } from '../api/types.js';
import { el, formatNumber } from '../dom.js';

const CONTEXTS_PER_QUANTILE = 4;

function context(tokens: TokenActivation[], trainTokenIndex: number, actMax: number): HTMLElement {
  return el(
    'div',
    { class: 'context' },
    tokens.map((t, i) => {
      const strength = actMax > 0 ? Math.max(0, Math.min(1, t.activation / actMax)) : 0;
      return el(
        'span',
        {
          class: i === trainTokenIndex ? 'tok train' : 'tok',
          title: `${formatNumber(t.activation)}`,
          style: strength > 0 ? `background: rgba(230, 120, 20, ${(0.1 + 0.8 * strength).toFixed(2)})` : null,
        },
        t.token,
      );
    }),
  );
}

function logitList(title: string, effects: { token: string; value: number | null }[], sign: string): HTMLElement {
  return el(
    'div',
    { class: `logits ${sign}` },
    el('h4', {}, title),
    el(
      'ol',
      {},
      effects
        .slice(0, 10)
        .map((e) =>
          el(
            'li',
            {},
            el('span', { class: 'tok' }, e.token),
            ' ',
            e.value !== null && Number.isFinite(e.value) && e.value !== 0
              ? el('span', { class: 'muted' }, formatNumber(e.value, 2))
              : null,
          ),
        ),
    ),
  );
}

/** "reads Texas 92% · says Austin 61%": the automatic labels, faint when weak. */
function autoLabelLine(labels: FeatureDashboard['autoLabels']): HTMLElement | null {
  if (!labels) return null;
  const part = (what: string, text: string, confidence: number) =>
    el(
      'span',
      {
        class: confidence < 0.5 ? 'auto-label weak' : 'auto-label',
        title: `confidence ${formatNumber(confidence, 2)}`,
      },
      `${what} ${text} ${Math.round(confidence * 100)}%`,
    );
  return el(
    'p',
    { class: 'auto-labels' },
    part('reads', labels.input.text, labels.input.confidence),
    labels.output ? [' · ', part('says', labels.output.text.replace(/^say /, ''), labels.output.confidence)] : null,
  );
}

export function renderFeature(
  feature: Feature,
  node: ApiNode,
  graphId: string,
  onLabelSaved: (label: string) => void,
): HTMLElement {
  const input = el('input', {
    class: 'label-input',
    value: feature.label?.label ?? '',
    // The automatic label shows through until the user names the feature (their label wins).
    placeholder: feature.dashboard?.autoLabels?.label ?? 'name this feature',
  });
  const status = el('span', { class: 'muted save-status' });
  const save = el(
    'button',
    {
      class: 'save-label',
      onclick: async () => {
        status.textContent = 'saving…';
        try {
          const saved = await setFeatureLabel(feature.model, feature.layer, feature.index, input.value.trim());
          status.textContent = `saved by ${saved.author}`;
          onLabelSaved(saved.label);
        } catch (error) {
          status.textContent = (error as Error).message;
        }
      },
    },
    'Save label',
  );
  const dashboard = feature.dashboard;
  const others = feature.occurrences.items.filter((o) => o.graphId !== graphId);
  return el(
    'div',
    { class: 'panel feature-panel' },
    el('h3', {}, `Feature L${feature.layer} #${feature.index}`),
    el('div', { class: 'label-editor' }, input, save, status),
    dashboard
      ? [
          autoLabelLine(dashboard.autoLabels),
          el(
            'p',
            { class: 'facts' },
            `activation frequency ${formatNumber(dashboard.activationFrequency * 100, 2)}% · act max ${formatNumber(dashboard.actMax)} · here ${formatNumber(node.activation)}`,
          ),
          el(
            'div',
            { class: 'logit-effects' },
            logitList('Top logits', dashboard.topLogits, 'positive'),
            logitList('Bottom logits', dashboard.bottomLogits, 'negative'),
          ),
          el(
            'div',
            { class: 'contexts' },
            dashboard.quantiles.map((q) =>
              el(
                'section',
                { class: 'quantile' },
                el('h4', {}, q.name),
                q.examples
                  .slice(0, CONTEXTS_PER_QUANTILE)
                  .map((ex) => context(ex.tokens, ex.trainTokenIndex, dashboard.actMax)),
              ),
            ),
          ),
        ]
      : el('p', { class: 'muted' }, 'This model has no dashboard for this feature.'),
    el(
      'section',
      { class: 'occurrences' },
      el('h4', {}, `In other graphs (${others.length})`),
      others.length
        ? el(
            'ul',
            {},
            others.map((o) =>
              el(
                'li',
                {},
                el(
                  'a',
                  { href: `?graph=${encodeURIComponent(o.graphId)}&clicked=${encodeURIComponent(o.node.nodeId)}` },
                  o.prompt,
                ),
                ' ',
                el('span', { class: 'muted' }, `act ${formatNumber(o.node.activation)}`),
              ),
            ),
          )
        : el('p', { class: 'muted' }, 'only in this graph'),
    ),
  );
}

/** Loads a feature into `container`, showing errors as text in place. */
export async function loadFeaturePanel(
  container: HTMLElement,
  model: string,
  node: ApiNode,
  graphId: string,
  onLabelSaved: (label: string) => void,
): Promise<void> {
  container.replaceChildren(el('p', { class: 'muted' }, 'loading feature…'));
  try {
    const feature = await getFeature(model, node.layer, node.feature!);
    container.replaceChildren(renderFeature(feature, node, graphId, onLabelSaved));
  } catch (error) {
    container.replaceChildren(el('p', { class: 'error' }, `feature: ${(error as Error).message}`));
  }
}
