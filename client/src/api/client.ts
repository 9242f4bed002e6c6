/**
 * The viewer's only way to the server: POST /graphql with plain fetch. Each function is one
 * operation of schema/graphql/schema.graphql; errors come back as ApiError with the server's message.
 */
import type {
  ApiGraph,
  AutoSupernode,
  CircuitView,
  SupernodeInterventionInput,
  Feature,
  FeatureLabel,
  GraphComparison,
  GraphSummary,
  InterventionResult,
  Model,
  Path,
  SavedView,
  Supernode,
  TraceJob,
} from './types.js';

import { unpackEdgeTable, unpackNodeTable, type EdgeTable, type NodeTable } from '@circuit-atlas/schema';
import type { IndexedEdge } from '../graph/edge-index.js';

export class ApiError extends Error {
  override name = 'ApiError';
}

export async function graphql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json().catch(() => null)) as { data?: T; errors?: { message: string }[] } | null;
  if (!body) throw new ApiError(`the server answered ${response.status} without a GraphQL body`);
  if (body.errors?.length) throw new ApiError(body.errors.map((e) => e.message).join('; '));
  if (!body.data) throw new ApiError('the server answered without data');
  return body.data;
}

// shownLabel: the label resolved by the server for the whole graph at once (saved, else automatic, else stored).
const NODE_FIELDS = 'nodeId kind layer ctxIdx feature activation influence tokenProb isTargetLogit label shownLabel';
const NODE_TABLE_FIELDS =
  'nodeIds kinds layers ctxIdx features activations influences tokenProbs isTargetLogit labels shownLabels';
const SUMMARY_FIELDS =
  'id prompt model transcoderSet createdAt nodeCount edgeCount scores { replacement completeness }';
// Views inside a graph without their supernodes: the API's cost limit counts nested lists as 100 each.
const VIEW_SUMMARY_FIELDS = 'id graphId name pinnedIds nodeThreshold edgeThreshold createdAt';
const VIEW_FIELDS = 'id graphId name pinnedIds supernodes { name nodeIds } nodeThreshold edgeThreshold createdAt';

export async function listModels(): Promise<Model[]> {
  const data = await graphql<{ models: Model[] }>(`
    query {
      models {
        id
        name
        architecture
        nLayers
        transcoderSet
        nFeatures
        hasDashboards
      }
    }
  `);
  return data.models;
}

export async function listGraphs(filter: { model?: string; text?: string; limit?: number }): Promise<{
  total: number;
  items: GraphSummary[];
}> {
  const data = await graphql<{ graphs: { total: number; items: GraphSummary[] } }>(
    `query($model: String, $text: String, $limit: Int) {
      graphs(model: $model, text: $text, limit: $limit) { total items { ${SUMMARY_FIELDS} } } }`,
    { model: filter.model || null, text: filter.text || null, limit: filter.limit ?? 50 },
  );
  return data.graphs;
}

export async function getGraph(
  id: string,
  nodeThreshold?: number | null,
  edgeThreshold?: number | null,
): Promise<ApiGraph | null> {
  // Nodes only, one array per field: edges come per node with getIncidentEdges (the browser holds only what it draws).
  const data = await graphql<{ graph: (Omit<ApiGraph, 'edges' | 'nodes'> & { nodeTable: NodeTable }) | null }>(
    `query($id: ID!, $nt: Float, $et: Float) { graph(id: $id, nodeThreshold: $nt, edgeThreshold: $et) {
      id prompt promptTokens model transcoderSet nLayers createdAt nodeCount
      settings { nodeThreshold edgeThreshold } scores { replacement completeness }
      nodeTable { ${NODE_TABLE_FIELDS} } views { ${VIEW_SUMMARY_FIELDS} } } }`,
    { id, nt: nodeThreshold ?? null, et: edgeThreshold ?? null },
  );
  if (!data.graph) return null;
  const { nodeTable, ...graph } = data.graph;
  return { ...graph, nodes: unpackNodeTable(nodeTable), edges: [] };
}

/**
 * Every kept edge touching these nodes, edges into them with their share of the node's input: the one place the
 * viewer decodes the edge table (indices into the graph's nodes as served at these thresholds).
 */
export async function getIncidentEdges(
  graph: Pick<ApiGraph, 'id' | 'nodes'>,
  nodeThreshold: number | null | undefined,
  edgeThreshold: number | null | undefined,
  nodeIds: string[],
): Promise<IndexedEdge[]> {
  const data = await graphql<{ graph: { incidentEdges: { table: EdgeTable; shares: (number | null)[] } } | null }>(
    `
      query ($id: ID!, $nt: Float, $et: Float, $ids: [ID!]!) {
        graph(id: $id, nodeThreshold: $nt, edgeThreshold: $et) {
          incidentEdges(nodeIds: $ids) {
            table {
              sources
              targets
              weights
            }
            shares
          }
        }
      }
    `,
    { id: graph.id, nt: nodeThreshold ?? null, et: edgeThreshold ?? null, ids: nodeIds },
  );
  if (!data.graph) throw new ApiError(`graph '${graph.id}' is no longer stored`);
  const { table, shares } = data.graph.incidentEdges;
  return unpackEdgeTable(graph.nodes, table).map((edge, i) => ({ ...edge, share: shares[i] }));
}

export async function getView(id: string): Promise<SavedView | null> {
  return (await graphql<{ view: SavedView | null }>(`query($id: ID!) { view(id: $id) { ${VIEW_FIELDS} } }`, { id }))
    .view;
}

export async function deleteGraph(id: string): Promise<boolean> {
  return (
    await graphql<{ deleteGraph: boolean }>(
      `
        mutation ($id: ID!) {
          deleteGraph(id: $id)
        }
      `,
      { id },
    )
  ).deleteGraph;
}

export async function startTrace(prompt: string, model: string | null): Promise<TraceJob> {
  const data = await graphql<{ trace: TraceJob }>(
    `
      mutation ($prompt: String!, $model: ID) {
        trace(prompt: $prompt, model: $model) {
          id
          status
          prompt
          model
          progress
          phase
          graphId
          error
        }
      }
    `,
    { prompt, model },
  );
  return data.trace;
}

/**
 * Follows a trace job live (server-sent events from /jobs/:id/events): `onUpdate` gets every change;
 * resolves with the finished job. Falls back to polling `job` when the stream cannot be opened.
 */
export function followJob(id: string, onUpdate: (job: TraceJob) => void): Promise<TraceJob | null> {
  return new Promise((resolve) => {
    const source = new EventSource(`/jobs/${encodeURIComponent(id)}/events`);
    let last: TraceJob | null = null;
    source.onmessage = (event: MessageEvent<string>) => {
      last = JSON.parse(event.data) as TraceJob;
      onUpdate(last);
      if (last.status !== 'queued' && last.status !== 'running') {
        source.close();
        resolve(last);
      }
    };
    source.onerror = () => {
      source.close();
      void pollJob(id, onUpdate).then(resolve);
    };
  });
}

async function pollJob(id: string, onUpdate: (job: TraceJob) => void): Promise<TraceJob | null> {
  for (;;) {
    const job = await getJob(id);
    if (!job) return null;
    onUpdate(job);
    if (job.status !== 'queued' && job.status !== 'running') return job;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export async function getJob(id: string): Promise<TraceJob | null> {
  const data = await graphql<{ job: TraceJob | null }>(
    `
      query ($id: ID!) {
        job(id: $id) {
          id
          status
          prompt
          model
          progress
          phase
          graphId
          error
        }
      }
    `,
    { id },
  );
  return data.job;
}

export async function getFeature(model: string, layer: number, index: number): Promise<Feature> {
  const data = await graphql<{ feature: Feature }>(
    `
      query ($model: String!, $layer: Int!, $index: Int!) {
        feature(model: $model, layer: $layer, index: $index) {
          model
          layer
          index
          label {
            model
            transcoderSet
            layer
            index
            label
            author
            updatedAt
          }
          dashboard {
            activationFrequency
            actMax
            actMin
            autoLabels {
              label
              weak
              input {
                text
                confidence
              }
              output {
                text
                confidence
              }
            }
            topLogits {
              token
              value
            }
            bottomLogits {
              token
              value
            }
            quantiles {
              name
              examples {
                trainTokenIndex
                tokens {
                  token
                  activation
                }
              }
            }
          }
          occurrences(limit: 20) {
            total
            items {
              graphId
              prompt
              node {
                nodeId
                activation
              }
            }
          }
        }
      }
    `,
    { model, layer, index },
  );
  return data.feature;
}

export async function setFeatureLabel(
  model: string,
  layer: number,
  index: number,
  label: string,
): Promise<FeatureLabel> {
  const data = await graphql<{ setFeatureLabel: FeatureLabel }>(
    `
      mutation ($model: String!, $layer: Int!, $index: Int!, $label: String!) {
        setFeatureLabel(model: $model, layer: $layer, index: $index, label: $label) {
          model
          transcoderSet
          layer
          index
          label
          author
          updatedAt
        }
      }
    `,
    { model, layer, index, label },
  );
  return data.setFeatureLabel;
}

export async function findPaths(graphId: string, from: string, to: string, k = 5): Promise<Path[]> {
  const data = await graphql<{ paths: Path[] }>(
    `
      query ($graphId: ID!, $from: ID!, $to: ID!, $k: Int) {
        paths(graphId: $graphId, from: $from, to: $to, k: $k) {
          nodeIds
          score
          weights
        }
      }
    `,
    { graphId, from, to, k },
  );
  return data.paths;
}

export async function compareGraphs(graphA: string, graphB: string): Promise<GraphComparison> {
  const data = await graphql<{ compare: GraphComparison }>(
    `query($a: ID!, $b: ID!) { compare(graphA: $a, graphB: $b) {
      graphA { ${SUMMARY_FIELDS} } graphB { ${SUMMARY_FIELDS} }
      shared { layer index positionFromEnd nodeIdA nodeIdB activationA activationB influenceA influenceB }
      sharedEdges { sourceA targetA sourceB targetB weightA weightB }
      onlyInA { ${NODE_FIELDS} } onlyInB { ${NODE_FIELDS} } } }`,
    { a: graphA, b: graphB },
  );
  return data.compare;
}

export async function saveView(view: {
  graphId: string;
  name: string;
  pinnedIds: string[];
  supernodes: Supernode[];
  nodeThreshold: number | null;
  edgeThreshold: number | null;
}): Promise<SavedView> {
  const data = await graphql<{ saveView: SavedView }>(
    `mutation($view: ViewInput!) { saveView(view: $view) { ${VIEW_FIELDS} } }`,
    { view },
  );
  return data.saveView;
}

export interface InterventionInput {
  layer: number;
  position: number;
  feature: number;
  value: number;
}

export async function intervene(
  prompt: string,
  model: string | null,
  interventions: InterventionInput[],
): Promise<InterventionResult> {
  const data = await graphql<{ intervene: InterventionResult }>(
    `
      mutation ($prompt: String!, $model: ID, $interventions: [FeatureIntervention!]!) {
        intervene(prompt: $prompt, model: $model, interventions: $interventions) {
          before {
            token
            tokenId
            probability
          }
          after {
            token
            tokenId
            probability
          }
        }
      }
    `,
    { prompt, model, interventions: interventions.map((i) => ({ ...i, mode: 'set' })) },
  );
  return data.intervene;
}

const PREDICTION_FIELDS = 'before { token tokenId probability } after { token tokenId probability }';

/** The graph's automatic supernodes (features grouped by edge profile, named from the dashboards). */
export async function getAutoSupernodes(graphId: string, nodeThreshold?: number | null): Promise<AutoSupernode[]> {
  const data = await graphql<{ graph: { autoSupernodes: AutoSupernode[] } | null }>(
    `
      query ($id: ID!, $nt: Float) {
        graph(id: $id, nodeThreshold: $nt) {
          autoSupernodes {
            id
            label
            named
            nodeIds
            ctxIdx
            layers
          }
        }
      }
    `,
    { id: graphId, nt: nodeThreshold ?? null },
  );
  if (!data.graph) throw new ApiError(`there is no graph '${graphId}'`);
  return data.graph.autoSupernodes;
}

/** The circuit view of the graph collapsed into `supernodes` (none: every feature alone). */
export async function getCircuit(
  graphId: string,
  supernodes: Supernode[],
  options: { nodeThreshold?: number | null; edgeThreshold?: number | null; target?: string | null } = {},
): Promise<CircuitView> {
  const data = await graphql<{ graph: { circuit: CircuitView } | null }>(
    `
      query ($id: ID!, $nt: Float, $et: Float, $sn: [SupernodeInput!], $target: ID) {
        graph(id: $id, nodeThreshold: $nt, edgeThreshold: $et) {
          circuit(supernodes: $sn, target: $target) {
            target
            supernodes {
              name
              nodeIds
            }
            nodes {
              id
              kind
              label
              ctxIdx
              layers
              members
              influence
            }
            edges {
              source
              target
              weight
              share
            }
            paths {
              nodeIds
              strength
              sign
            }
          }
        }
      }
    `,
    {
      id: graphId,
      nt: options.nodeThreshold ?? null,
      et: options.edgeThreshold ?? null,
      sn: supernodes.map((s) => ({ name: s.name, nodeIds: s.nodeIds })),
      target: options.target ?? null,
    },
  );
  if (!data.graph) throw new ApiError(`there is no graph '${graphId}'`);
  return data.graph.circuit;
}

/**
 * Zeroes, scales or swaps supernodes of a stored graph; the top predictions before and after.
 * `frozenAttention` false lets attention patterns change (the default keeps the clean run's).
 */
export async function interveneSupernodes(
  graphId: string,
  interventions: SupernodeInterventionInput[],
  frozenAttention = true,
): Promise<InterventionResult> {
  const data = await graphql<{ interveneSupernodes: InterventionResult }>(
    `mutation($g: ID!, $i: [SupernodeInterventionInput!]!, $f: Boolean) {
      interveneSupernodes(graphId: $g, interventions: $i, frozenAttention: $f) { ${PREDICTION_FIELDS} } }`,
    { g: graphId, i: interventions, f: frozenAttention },
  );
  return data.interveneSupernodes;
}
