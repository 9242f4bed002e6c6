/**
 * An Apollo plugin that guards every operation once it is parsed and validated: mutations need the
 * bearer token when ATLAS_TOKEN is set, only operation types the schema has are run, no operation
 * may exceed the depth and cost limits (costed with the sizes of the stored graphs it names), and
 * heavy operations wait for one of a few slots or are refused as busy.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApolloServerPlugin } from '@apollo/server';
import { Kind, type FragmentDefinitionNode } from 'graphql';
import type { GraphSize } from '../store/graph-store.js';
import type { ApiContext } from './context.js';
import { badUserInput, busy, unauthenticated } from './errors.js';
import { HeavyGate } from './heavy-gate.js';
import { graphIdsOf, limitViolation, measureOperation, type QueryLimits } from './limits.js';

export interface ProtectionOptions {
  /** When set, mutations need `Authorization: Bearer <token>`. */
  token: string | null;
  limits: QueryLimits;
}

/** Seconds a refused client is told to wait before retrying. */
const RETRY_AFTER_SECONDS = 2;

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Compares in constant time, so response timing does not reveal the token. */
export function tokenMatches(expected: string, authorization: string | undefined): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? '');
  return match !== null && timingSafeEqual(digest(match[1]), digest(expected));
}

export function protectionPlugin(options: ProtectionOptions): ApolloServerPlugin<ApiContext> & { gate: HeavyGate } {
  const gate = new HeavyGate(options.limits.heavySlots, options.limits.heavyQueue);
  return {
    gate,
    async requestDidStart() {
      let release: (() => void) | null = null;
      return {
        async didResolveOperation({ request, operation, document, schema, contextValue }) {
          if (!operation) return; // Apollo has already answered OPERATION_RESOLUTION_FAILURE
          const rootType =
            operation.operation === 'query'
              ? schema.getQueryType()
              : operation.operation === 'mutation'
                ? schema.getMutationType()
                : schema.getSubscriptionType();
          if (!rootType) {
            throw badUserInput(
              `this API has no ${operation.operation}s: send a query or a mutation (poll job(id) to follow a trace)`,
            );
          }
          if (operation.operation === 'mutation' && options.token !== null) {
            const authorization = request.http?.headers.get('authorization') ?? undefined;
            if (!authorization) {
              throw unauthenticated(
                'mutations need an Authorization header: send "Authorization: Bearer <ATLAS_TOKEN>"',
              );
            }
            if (!tokenMatches(options.token, authorization)) {
              throw unauthenticated(
                'the bearer token is wrong: send the token the server was started with (ATLAS_TOKEN)',
              );
            }
          }
          const fragments: Record<string, FragmentDefinitionNode> = {};
          for (const definition of document.definitions) {
            if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
          }
          const variables = request.variables ?? {};
          // The stored sizes of the graphs the query names: one cheap summary read each.
          const ids = graphIdsOf(operation, fragments, variables);
          const sizes = new Map<string, GraphSize | null>();
          const found = await contextValue.loaders.sizes.loadMany(ids);
          ids.forEach((id, i) => {
            const size = found[i];
            if (size instanceof Error) throw size;
            sizes.set(id, size);
          });
          const measure = measureOperation(schema, operation, fragments, variables, options.limits, {
            size: (id) => sizes.get(id) ?? null,
            indexed: (id) => contextValue.nodeIndex.has(id),
          });
          const violation = limitViolation(measure, options.limits);
          if (violation) throw badUserInput(violation, { depth: measure.depth, cost: measure.cost });
          if (measure.cost >= options.limits.heavyCost) {
            release = await gate.enter();
            if (!release) {
              throw busy(
                `the server is busy with ${gate.load.running + gate.load.waiting} large reads (query cost ${measure.cost}): ` +
                  `retry in ${RETRY_AFTER_SECONDS} s, or ask for less (prune the graph, smaller pages)`,
                RETRY_AFTER_SECONDS,
              );
            }
          }
        },
        async willSendResponse() {
          release?.();
          release = null;
        },
      };
    },
  };
}
