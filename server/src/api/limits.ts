/**
 * Query protection: depth and cost of an operation, measured after validation (so fragments are
 * known and acyclic) and with the request's variables, so `limit: $n` counts what it asks for.
 *
 * Cost model: the cost approximates the work of answering — rows read and values written. A scalar
 * field costs 0 (a list of scalars costs its length where it is known: an edge table's arrays); an
 * object field costs factor × (1 + cost of its selection), where factor is the field's `limit` /
 * `k` argument when it has one, 1 for the list directly under such a field (a page's `items`), the
 * size of the stored graph for a graph's lists (nodes, edges), the assumed length of other lists
 * (ASSUMED_LIST_SIZES, else `defaultListSize`), and 1 otherwise. Root fields that read whole graphs
 * add the graph's node + edge count once per distinct read (the per-request loader reads a graph
 * once however many aliases ask), and `compare` / `paths` add the work of their analysis.
 */
import {
  getNamedType,
  getNullableType,
  isListType,
  isObjectType,
  isInterfaceType,
  Kind,
  valueFromASTUntyped,
  type FieldNode,
  type FragmentDefinitionNode,
  type InlineFragmentNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { GraphSize } from '../store/graph-store.js';
import { incidentEdgeEstimate, selectionReadsEdges } from './served-graph.js';

export interface QueryLimits {
  /** Deepest allowed nesting of non-introspection fields. */
  maxDepth: number;
  /** Deepest allowed nesting inside `__schema` / `__type` (GraphiQL's introspection needs about 13). */
  maxIntrospectionDepth: number;
  /** Largest cost one operation may have (ATLAS_MAX_QUERY_COST). */
  maxCost: number;
  /** Assumed length of a list field that has no `limit` argument and no known size. */
  defaultListSize: number;
  /** Most lexical tokens a document may hold; parsing stops there (GraphiQL's introspection has ~190). */
  maxTokens: number;
  /** Cost from which an operation is heavy: it runs only in one of `heavySlots`. */
  heavyCost: number;
  /** Heavy operations executing at once (ATLAS_HEAVY_QUERIES). */
  heavySlots: number;
  /** Heavy operations that may wait for a slot; more are answered "busy, retry". */
  heavyQueue: number;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = {
  maxDepth: 8,
  maxIntrospectionDepth: 16,
  // A whole 5,000-node, 50,000-edge graph with its edge table costs about 210,000.
  maxCost: 500_000,
  defaultListSize: 100,
  maxTokens: 2_000,
  heavyCost: 20_000,
  heavySlots: 2,
  heavyQueue: 64,
};

export interface OperationMeasure {
  depth: number;
  introspectionDepth: number;
  cost: number;
  /** Fields visited with every fragment spread expanded; the walk stops past MAX_EXPANDED_FIELDS. */
  expandedFields: number;
}

/**
 * Most fields an operation may name once its fragment spreads are expanded. Fragments that spread
 * others twice double at every link, so a short document can name billions of fields.
 */
export const MAX_EXPANDED_FIELDS = 10_000;

/** Thrown inside the walks when the expansion passes MAX_EXPANDED_FIELDS. */
class ExpansionLimit extends Error {}

/** What the cost model knows about the stored graphs an operation names, looked up beforehand. */
export interface GraphFacts {
  /** Node and edge counts of a graph; null when there is no such graph. */
  size(id: string): GraphSize | null;
  /** True when the server's node index already holds the graph, so a `node` query reads no graph. */
  indexed(id: string): boolean;
}

/** Typical lengths of lists the SDL does not bound with an argument ("Type.field"). */
const ASSUMED_LIST_SIZES: Record<string, number> = {
  'Query.models': 20,
  'Query.jobs': 50,
  'Graph.views': 10,
  'FeatureDashboard.quantiles': 10,
  'ExampleQuantile.examples': 10,
  'ActivationExample.tokens': 32,
  'FeatureDashboard.topLogits': 10,
  'FeatureDashboard.bottomLogits': 10,
  'SavedView.supernodes': 20,
};

/** Sizes of the lists under a graph-reading root field, from the stored counts (upper bounds when pruning). */
type Scope = Record<string, number>;

/** Lists whose length is a stored graph's size ("Type.field" → length in the current scope). */
const SCOPED_LIST_SIZES: Record<string, (scope: Scope) => number | undefined> = {
  'Graph.nodes': (s) => s.nodes,
  'Graph.edges': (s) => s.edges,
  ...Object.fromEntries(
    ['nodeIds', 'kinds', 'layers', 'ctxIdx', 'features', 'activations', 'influences', 'tokenProbs', 'isTargetLogit']
      .concat(['labels', 'shownLabels'])
      .map((column) => [`NodeTable.${column}`, (s: Scope) => s.nodes]),
  ),
  'EdgeTable.sources': (s) => s.edges,
  'EdgeTable.targets': (s) => s.edges,
  'EdgeTable.weights': (s) => s.edges,
  'IncidentEdges.shares': (s) => s.edges,
  'GraphComparison.onlyInA': (s) => s.nodesA,
  'GraphComparison.onlyInB': (s) => s.nodesB,
  'GraphComparison.shared': (s) => Math.min(s.nodesA ?? 0, s.nodesB ?? 0),
  'GraphComparison.sharedEdges': (s) => Math.min(s.edgesA ?? 0, s.edgesB ?? 0),
};

/** Scalar fields that do work per value (a file or store lookup). */
const SCALAR_WORK: Record<string, number> = { 'Node.autoLabel': 1, 'Node.shownLabel': 1 };

/** Root fields that read stored graphs, and the arguments that name them. */
const GRAPH_ARGUMENTS: Record<string, string[]> = {
  graph: ['id'],
  node: ['graphId'],
  paths: ['graphId'],
  compare: ['graphA', 'graphB'],
  graphsSharingFeatures: ['graphId'],
};

/** Arguments that bound the length of the list a field returns. */
const SIZE_ARGUMENTS = ['limit', 'k'];

function argumentValues(field: FieldNode, variables: Record<string, unknown>): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const argument of field.arguments ?? [])
    values[argument.name.value] = valueFromASTUntyped(argument.value, variables);
  return values;
}

/** The root fields of an operation, with fragments at the root expanded. */
function rootFields(
  operation: OperationDefinitionNode,
  fragments: Record<string, FragmentDefinitionNode>,
): FieldNode[] {
  const fields: FieldNode[] = [];
  const visit = (selectionSet: SelectionSetNode, visited: Set<string>) => {
    for (const selection of selectionSet.selections) {
      if (fields.length > MAX_EXPANDED_FIELDS) throw new ExpansionLimit();
      if (selection.kind === Kind.FIELD) fields.push(selection);
      else if (selection.kind === Kind.INLINE_FRAGMENT) visit(selection.selectionSet, visited);
      else if (!visited.has(selection.name.value) && fragments[selection.name.value]) {
        visited.add(selection.name.value);
        visit(fragments[selection.name.value].selectionSet, visited);
        visited.delete(selection.name.value);
      }
    }
  };
  visit(operation.selectionSet, new Set());
  return fields;
}

/** The ids of the stored graphs a query's root fields name, so their sizes can be looked up first. */
export function graphIdsOf(
  operation: OperationDefinitionNode,
  fragments: Record<string, FragmentDefinitionNode>,
  variables: Record<string, unknown>,
): string[] {
  if (operation.operation !== 'query') return [];
  const ids = new Set<string>();
  let fields: FieldNode[];
  try {
    fields = rootFields(operation, fragments);
  } catch (error) {
    if (error instanceof ExpansionLimit) return []; // measureOperation refuses the operation
    throw error;
  }
  for (const field of fields) {
    const names = GRAPH_ARGUMENTS[field.name.value];
    if (!names) continue;
    const values = argumentValues(field, variables);
    for (const name of names) if (typeof values[name] === 'string') ids.add(values[name] as string);
  }
  return [...ids];
}

export function measureOperation(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  fragments: Record<string, FragmentDefinitionNode>,
  variables: Record<string, unknown>,
  limits: QueryLimits,
  graphs: GraphFacts = { size: () => null, indexed: () => false },
): OperationMeasure {
  const root =
    operation.operation === 'mutation'
      ? schema.getMutationType()
      : operation.operation === 'subscription'
        ? schema.getSubscriptionType()
        : schema.getQueryType();
  const measure: OperationMeasure = { depth: 0, introspectionDepth: 0, cost: 0, expandedFields: 0 };
  if (!root) return measure;
  // Whole-graph reads already charged in this operation: the request's loader reads each once.
  const reads = new Set<string>();
  const read = (key: string, size: GraphSize): number => {
    if (reads.has(key)) return 0;
    reads.add(key);
    return size.nodeCount + size.edgeCount;
  };

  /** The work a graph-reading root field does beyond its output, and the sizes its lists take. */
  const rootWork = (field: FieldNode): { work: number; scope: Scope } => {
    const args = argumentValues(field, variables);
    const sizeOf = (name: string) => (typeof args[name] === 'string' ? graphs.size(args[name] as string) : null);
    switch (field.name.value) {
      case 'graph': {
        const size = sizeOf('id');
        if (!size) return { work: 0, scope: {} };
        const key = `${String(args.id)}\u0000${String(args.nodeThreshold ?? '')}\u0000${String(args.edgeThreshold ?? '')}`;
        const scope = { nodes: size.nodeCount, edges: size.edgeCount };
        // A query for nodes (and incident edges) reads the node rows only (served-graph.ts).
        if (!selectionReadsEdges(field.selectionSet, fragments)) {
          return { work: read(`nodes\u0000${key}`, { nodeCount: size.nodeCount, edgeCount: 0 }), scope };
        }
        return { work: read(key, size), scope };
      }
      case 'node': {
        const size = sizeOf('graphId');
        const id = String(args.graphId);
        return { work: size && !graphs.indexed(id) ? read(`index\u0000${id}`, size) : 0, scope: {} };
      }
      case 'paths': {
        const size = sizeOf('graphId');
        if (!size) return { work: 0, scope: {} };
        const k = typeof args.k === 'number' ? args.k : 5;
        const maxLength = typeof args.maxLength === 'number' ? args.maxLength : 6;
        // Indexing the edges, then a best-first search expanding each (node, length) at most k times.
        const search = size.edgeCount + k * maxLength * 100;
        return { work: read(`${String(args.graphId)}\u0000\u0000`, size) + search, scope: {} };
      }
      case 'compare': {
        const a = sizeOf('graphA');
        const b = sizeOf('graphB');
        if (!a || !b) return { work: 0, scope: {} };
        const work =
          read(`${String(args.graphA)}\u0000\u0000`, a) +
          read(`${String(args.graphB)}\u0000\u0000`, b) +
          a.nodeCount +
          a.edgeCount +
          b.nodeCount +
          b.edgeCount;
        return {
          work,
          scope: { nodesA: a.nodeCount, edgesA: a.edgeCount, nodesB: b.nodeCount, edgesB: b.edgeCount },
        };
      }
      case 'graphsSharingFeatures': {
        const size = sizeOf('graphId');
        return { work: size ? size.nodeCount : 0, scope: {} };
      }
      default:
        return { work: 0, scope: {} };
    }
  };

  const walk = (
    selectionSet: SelectionSetNode,
    parentType: GraphQLNamedType,
    depth: number,
    introspection: boolean,
    parentSized: boolean,
    visitedFragments: Set<string>,
    scope: Scope,
  ): number => {
    let cost = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FRAGMENT_SPREAD || selection.kind === Kind.INLINE_FRAGMENT) {
        const name = selection.kind === Kind.FRAGMENT_SPREAD ? selection.name.value : null;
        if (name !== null && visitedFragments.has(name)) continue; // validation rejects cycles; stay safe anyway
        const fragment: FragmentDefinitionNode | InlineFragmentNode | undefined =
          selection.kind === Kind.FRAGMENT_SPREAD ? fragments[selection.name.value] : selection;
        if (!fragment) continue;
        const typeName = fragment.typeCondition?.name.value;
        const fragmentType = (typeName && schema.getType(typeName)) || parentType;
        // The spread's fragment is on the path only while its selection is walked.
        if (name !== null) visitedFragments.add(name);
        cost += walk(fragment.selectionSet, fragmentType, depth, introspection, parentSized, visitedFragments, scope);
        if (name !== null) visitedFragments.delete(name);
        continue;
      }
      if (++measure.expandedFields > MAX_EXPANDED_FIELDS) throw new ExpansionLimit();
      const fieldName = selection.name.value;
      const inIntrospection = introspection || fieldName.startsWith('__');
      const fieldDepth = depth + 1;
      if (inIntrospection) measure.introspectionDepth = Math.max(measure.introspectionDepth, fieldDepth);
      else measure.depth = Math.max(measure.depth, fieldDepth);
      const typeField = `${parentType.name}.${fieldName}`;
      const scopedSize = SCOPED_LIST_SIZES[typeField]?.(scope);
      if (!selection.selectionSet) {
        // Introspection costs nothing: it reads the schema, never the store.
        if (!inIntrospection) cost += scopedSize ?? SCALAR_WORK[typeField] ?? 0;
        continue;
      }

      const field = fieldOf(parentType, fieldName);
      const fieldType = field ? getNamedType(field.type) : parentType;
      const isList = field ? isListType(getNullableType(field.type)) : false;
      let size: number | null = null;
      for (const argument of selection.arguments ?? []) {
        if (!SIZE_ARGUMENTS.includes(argument.name.value)) continue;
        const value = valueFromASTUntyped(argument.value, variables);
        if (typeof value === 'number') size = value;
      }
      if (size === null && field) {
        const sizeArg = field.args.find((arg) => SIZE_ARGUMENTS.includes(arg.name));
        if (sizeArg && typeof sizeArg.defaultValue === 'number') size = sizeArg.defaultValue;
      }
      const assumed = scopedSize ?? ASSUMED_LIST_SIZES[typeField] ?? limits.defaultListSize;
      const factor = size !== null ? Math.max(size, 1) : isList ? (parentSized ? 1 : assumed) : 1;
      const atRoot = depth === 0 && parentType === root && !inIntrospection;
      let { work, scope: childScope } = atRoot ? rootWork(selection) : { work: 0, scope };
      if (typeField === 'Graph.incidentEdges') {
        // Its edges, then the asked nodes' inputs again for the shares: about twice the edges it returns.
        const asked = argumentValues(selection, variables).nodeIds;
        const count = Array.isArray(asked) ? asked.length : typeof asked === 'string' ? 1 : 0;
        const edges = incidentEdgeEstimate(count, scope.nodes ?? 0, scope.edges ?? 0);
        work = 2 * edges;
        childScope = { ...scope, edges };
      }
      const childCost = walk(
        selection.selectionSet,
        fieldType,
        fieldDepth,
        inIntrospection,
        size !== null,
        visitedFragments,
        childScope,
      );
      if (!inIntrospection) cost += work + factor * (1 + childCost);
    }
    return cost;
  };

  try {
    measure.cost = walk(operation.selectionSet, root, 0, false, false, new Set(), {});
  } catch (error) {
    if (!(error instanceof ExpansionLimit)) throw error;
    measure.cost = Infinity;
  }
  return measure;
}

function fieldOf(type: GraphQLNamedType, name: string): GraphQLField<unknown, unknown> | undefined {
  if (isObjectType(type) || isInterfaceType(type)) return type.getFields()[name];
  return undefined;
}

/** The first limit the operation breaks, as a message that says what to change; null when within limits. */
export function limitViolation(measure: OperationMeasure, limits: QueryLimits): string | null {
  if (measure.depth > limits.maxDepth) {
    return `query is nested ${measure.depth} levels deep; the limit is ${limits.maxDepth}: select fewer nested fields or split the query`;
  }
  if (measure.introspectionDepth > limits.maxIntrospectionDepth) {
    return `introspection query is nested ${measure.introspectionDepth} levels deep; the limit is ${limits.maxIntrospectionDepth}`;
  }
  if (measure.expandedFields > MAX_EXPANDED_FIELDS) {
    return `query names more than ${MAX_EXPANDED_FIELDS} fields once its fragments are expanded: spread each fragment fewer times`;
  }
  if (measure.cost > limits.maxCost) {
    return (
      `query cost ${measure.cost} exceeds the limit of ${limits.maxCost}: ask for smaller pages (limit), fewer aliased ` +
      'fields or fewer nested lists; a whole graph costs its node and edge counts, so prune it (nodeThreshold) or read it by node'
    );
  }
  return null;
}
