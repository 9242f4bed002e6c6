/**
 * Paths between two nodes: the top-k paths the server ranks (product of normalised edge weights),
 * each listed with its weights; choosing one highlights it in the link graph.
 */
import { findPaths } from '../api/client.js';
import type { ApiNode, Path } from '../api/types.js';
import { el, formatNumber } from '../dom.js';

export async function loadPathsPanel(
  container: HTMLElement,
  graphId: string,
  from: string,
  to: string,
  nodes: ReadonlyMap<string, ApiNode>,
  highlight: (path: Path) => void,
): Promise<void> {
  const name = (id: string): string => nodes.get(id)?.label ?? id;
  container.replaceChildren(el('p', { class: 'muted' }, `finding paths ${name(from)} → ${name(to)}…`));
  let paths: Path[];
  try {
    paths = await findPaths(graphId, from, to, 5);
  } catch (error) {
    container.replaceChildren(el('p', { class: 'error' }, `paths: ${(error as Error).message}`));
    return;
  }
  const rows = paths.map((path, i) =>
    el(
      'li',
      {
        class: 'path-row',
        onclick: (event: Event) => {
          container.querySelectorAll('.path-row.active').forEach((r) => r.classList.remove('active'));
          (event.currentTarget as HTMLElement).classList.add('active');
          highlight(path);
        },
      },
      el('span', { class: 'score' }, `#${i + 1} score ${formatNumber(path.score)}`),
      el(
        'span',
        { class: 'steps' },
        path.nodeIds.flatMap((id, k) => [
          k > 0
            ? el(
                'span',
                { class: `step-weight ${path.weights[k - 1] >= 0 ? 'positive' : 'negative'}` },
                ` —${formatNumber(path.weights[k - 1], 2)}→ `,
              )
            : null,
          el('span', { class: 'step' }, name(id)),
        ]),
      ),
    ),
  );
  container.replaceChildren(
    el('h4', {}, `Paths ${name(from)} → ${name(to)}`),
    rows.length
      ? el('ol', { class: 'paths' }, rows)
      : el('p', { class: 'muted' }, 'no path between these nodes in the pruned graph'),
  );
  if (paths.length) {
    (container.querySelector('.path-row') as HTMLElement).classList.add('active');
    highlight(paths[0]);
  }
}
