/**
 * All of the viewer's state lives in the URL (REFERENCE.md, "All state in the URL"), so a reload
 * or a shared link reopens the same view. Query parameters:
 *   graph, clicked, pinned (comma list), sn (JSON [[name, ...ids]] as in qParams.supernodes),
 *   nt / et (node / edge pruning thresholds), from/to (path ends), compare (two graph ids), model/q (list filters),
 *   mode (link | circuit), view (a saved view to open), sel (the box clicked in the circuit view),
 *   collection (a model whose graphs to analyse together), batch (a batch whose progress to follow).
 */
import type { Supernode } from '../api/types.js';

export interface ViewerState {
  graph: string | null;
  clicked: string | null;
  pinned: string[];
  supernodes: Supernode[];
  nodeThreshold: number | null;
  edgeThreshold: number | null;
  pathFrom: string | null;
  pathTo: string | null;
  compare: [string, string] | null;
  listModel: string;
  listText: string;
  /** Which picture of the graph: the link graph (default) or the circuit view. */
  mode: 'link' | 'circuit';
  /** A saved view to open on load (its supernodes, pins and thresholds); cleared once opened. */
  viewId: string | null;
  /** The box clicked in the circuit view (a node id, or a supernode's name). */
  circuitSelected: string | null;
  /** The model whose stored graphs the collection page analyses. */
  collection: string | null;
  /** The batch whose progress the batch page follows. */
  batch: string | null;
  /** Graphs of the feature × prompt matrix page (two or more). */
  matrix: string[] | null;
}

export function emptyState(): ViewerState {
  return {
    graph: null,
    clicked: null,
    pinned: [],
    supernodes: [],
    nodeThreshold: null,
    edgeThreshold: null,
    pathFrom: null,
    pathTo: null,
    compare: null,
    listModel: '',
    listText: '',
    mode: 'link',
    viewId: null,
    circuitSelected: null,
    collection: null,
    batch: null,
    matrix: null,
  };
}

function parseSupernodes(text: string | null): Supernode[] {
  if (!text) return [];
  try {
    const raw = JSON.parse(text) as unknown;
    if (!Array.isArray(raw)) return [];
    return raw
      .filter(
        (entry): entry is string[] =>
          Array.isArray(entry) && entry.every((v) => typeof v === 'string') && entry.length >= 2,
      )
      .map(([name, ...nodeIds]) => ({ name, nodeIds }));
  } catch {
    return [];
  }
}

export function parseState(search: string): ViewerState {
  const params = new URLSearchParams(search);
  const list = (key: string): string[] => (params.get(key) ?? '').split(',').filter(Boolean);
  const threshold = Number(params.get('nt'));
  const edgeThreshold = Number(params.get('et'));
  const compare = list('compare');
  return {
    graph: params.get('graph'),
    clicked: params.get('clicked'),
    pinned: list('pinned'),
    supernodes: parseSupernodes(params.get('sn')),
    nodeThreshold: params.has('nt') && threshold > 0 && threshold <= 1 ? threshold : null,
    edgeThreshold: params.has('et') && edgeThreshold > 0 && edgeThreshold <= 1 ? edgeThreshold : null,
    pathFrom: params.get('from'),
    pathTo: params.get('to'),
    compare: compare.length === 2 ? [compare[0], compare[1]] : null,
    listModel: params.get('model') ?? '',
    listText: params.get('q') ?? '',
    mode: params.get('mode') === 'circuit' ? 'circuit' : 'link',
    viewId: params.get('view'),
    circuitSelected: params.get('sel'),
    collection: params.get('collection'),
    batch: params.get('batch'),
    matrix: list('matrix').length >= 2 ? list('matrix') : null,
  };
}

export function formatState(state: ViewerState): string {
  const params = new URLSearchParams();
  if (state.collection) params.set('collection', state.collection);
  if (state.batch) params.set('batch', state.batch);
  if (state.matrix) params.set('matrix', state.matrix.join(','));
  if (state.compare) params.set('compare', state.compare.join(','));
  if (state.graph) params.set('graph', state.graph);
  if (state.clicked) params.set('clicked', state.clicked);
  if (state.pinned.length) params.set('pinned', state.pinned.join(','));
  if (state.supernodes.length) params.set('sn', JSON.stringify(state.supernodes.map((s) => [s.name, ...s.nodeIds])));
  if (state.nodeThreshold !== null) params.set('nt', String(state.nodeThreshold));
  if (state.edgeThreshold !== null) params.set('et', String(state.edgeThreshold));
  if (state.pathFrom) params.set('from', state.pathFrom);
  if (state.pathTo) params.set('to', state.pathTo);
  if (state.graph && state.mode === 'circuit') params.set('mode', 'circuit');
  if (state.graph && state.viewId) params.set('view', state.viewId);
  if (state.graph && state.circuitSelected) params.set('sel', state.circuitSelected);
  if (!state.graph && !state.compare) {
    if (state.listModel) params.set('model', state.listModel);
    if (state.listText) params.set('q', state.listText);
  }
  const text = params.toString();
  return text ? `?${text}` : location.pathname;
}
