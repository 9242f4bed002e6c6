/**
 * The viewer's entry: reads the state from the URL, shows the page it names (graph list, one
 * graph, or a comparison), and writes every state change back to the URL.
 */
import './styles.css';
import { el } from './dom.js';
import { BatchPage } from './pages/batch-page.js';
import { CollectionPage } from './pages/collection-page.js';
import { ComparePage } from './pages/compare-page.js';
import { GraphPage, type PageHost } from './pages/graph-page.js';
import { ListPage } from './pages/list-page.js';
import { MatrixPage } from './pages/matrix-page.js';
import { formatState, parseState, type ViewerState } from './state/url-state.js';

const root = document.getElementById('app')!;
let current: { destroy?(): void } | null = null;

const host: PageHost = {
  state: parseState(location.search),
  update(change: Partial<ViewerState>): void {
    host.state = { ...host.state, ...change };
    history.replaceState(null, '', formatState(host.state));
  },
};

async function show(): Promise<void> {
  current?.destroy?.();
  delete document.body.dataset.graphReady;
  const state = host.state;
  try {
    if (state.batch) {
      const page = new BatchPage(root, state.batch);
      current = page;
      await page.load();
    } else if (state.collection) {
      const page = new CollectionPage(root, state.collection);
      current = null;
      await page.load();
    } else if (state.matrix) {
      const page = new MatrixPage(root, state.matrix);
      current = null;
      await page.load();
    } else if (state.compare) {
      const page = new ComparePage(root, state.compare);
      current = page;
      await page.load();
    } else if (state.graph) {
      const page = new GraphPage(root, host);
      current = page;
      await page.load();
    } else {
      current = null;
      await new ListPage(root, host, navigate).load();
    }
  } catch (error) {
    root.replaceChildren(
      el('p', { class: 'error' }, (error as Error).message, ' ', el('a', { href: '?' }, 'Back to the list')),
    );
  }
}

/** Goes to another page of the viewer (a new history entry). */
function navigate(search: string): void {
  history.pushState(null, '', search);
  host.state = parseState(location.search);
  void show();
}

window.addEventListener('popstate', () => {
  host.state = parseState(location.search);
  void show();
});

void show();
