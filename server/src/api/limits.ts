/**
 * Query protection: depth and cost of an operation, measured after validation (so fragments are
 * known and acyclic) and with the request's variables, so `limit: $n` counts what it asks for.
 *
 * Cost model: a scalar field costs 0; an object field costs factor × (1 + cost of its selection),
 * where factor is the field's `limit` / `k` argument when it has one, 1 for the list directly under
 * such a field (a page's `items`), the assumed length of other lists (ASSUMED_LIST_SIZES, else
 * `defaultListSize`), and 1 otherwise.
 */
import {
  getNamedType,
  getNullableType,
  isListType,
  isObjectType,
  isInterfaceType,
  Kind,
  valueFromASTUntyped,
  type FragmentDefinitionNode,
  type InlineFragmentNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

export interface QueryLimits {
  /** Deepest allowed nesting of non-introspection fields. */
  maxDepth: number;
  /** Deepest allowed nesting inside `__schema` / `__type` (GraphiQL's introspection needs about 13). */
  maxIntrospectionDepth: number;
  maxCost: number;
  /** Assumed length of a list field that has no `limit` argument (e.g. a graph's nodes). */
  defaultListSize: number;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = {
  maxDepth: 8,
  maxIntrospectionDepth: 16,
  maxCost: 10_000,
  defaultListSize: 100,
};

export interface OperationMeasure {
  depth: number;
  introspectionDepth: number;
  cost: number;
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

/** Arguments that bound the length of the list a field returns. */
const SIZE_ARGUMENTS = ['limit', 'k'];

export function measureOperation(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  fragments: Record<string, FragmentDefinitionNode>,
  variables: Record<string, unknown>,
  limits: QueryLimits,
): OperationMeasure {
  const root =
    operation.operation === 'mutation'
      ? schema.getMutationType()
      : operation.operation === 'subscription'
        ? schema.getSubscriptionType()
        : schema.getQueryType();
  const measure: OperationMeasure = { depth: 0, introspectionDepth: 0, cost: 0 };
  if (!root) return measure;

  const walk = (
    selectionSet: SelectionSetNode,
    parentType: GraphQLNamedType,
    depth: number,
    introspection: boolean,
    parentSized: boolean,
    visitedFragments: ReadonlySet<string>,
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
        const visited = name !== null ? new Set([...visitedFragments, name]) : visitedFragments;
        cost += walk(fragment.selectionSet, fragmentType, depth, introspection, parentSized, visited);
        continue;
      }
      const fieldName = selection.name.value;
      const inIntrospection = introspection || fieldName.startsWith('__');
      const fieldDepth = depth + 1;
      if (inIntrospection) measure.introspectionDepth = Math.max(measure.introspectionDepth, fieldDepth);
      else measure.depth = Math.max(measure.depth, fieldDepth);
      if (!selection.selectionSet) continue;

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
      const assumed = ASSUMED_LIST_SIZES[`${parentType.name}.${fieldName}`] ?? limits.defaultListSize;
      const factor = size !== null ? Math.max(size, 1) : isList ? (parentSized ? 1 : assumed) : 1;
      // Introspection costs nothing: it reads the schema, never the store.
      const childCost = walk(
        selection.selectionSet,
        fieldType,
        fieldDepth,
        inIntrospection,
        size !== null,
        visitedFragments,
      );
      if (!inIntrospection) cost += factor * (1 + childCost);
    }
    return cost;
  };

  measure.cost = walk(operation.selectionSet, root, 0, false, false, new Set());
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
  if (measure.cost > limits.maxCost) {
    return `query cost ${measure.cost} exceeds the limit of ${limits.maxCost}: ask for smaller pages (limit), fewer aliased fields or fewer nested lists`;
  }
  return null;
}
