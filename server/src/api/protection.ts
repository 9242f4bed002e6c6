/**
 * An Apollo plugin that guards every operation once it is parsed and validated: mutations need the
 * bearer token when ATLAS_TOKEN is set, and no operation may exceed the depth and cost limits.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApolloServerPlugin } from '@apollo/server';
import { Kind, type FragmentDefinitionNode } from 'graphql';
import type { ApiContext } from './context.js';
import { badUserInput, unauthenticated } from './errors.js';
import { limitViolation, measureOperation, type QueryLimits } from './limits.js';

export interface ProtectionOptions {
  /** When set, mutations need `Authorization: Bearer <token>`. */
  token: string | null;
  limits: QueryLimits;
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Compares in constant time, so response timing does not reveal the token. */
export function tokenMatches(expected: string, authorization: string | undefined): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? '');
  return match !== null && timingSafeEqual(digest(match[1]), digest(expected));
}

export function protectionPlugin(options: ProtectionOptions): ApolloServerPlugin<ApiContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, operation, document, schema }) {
          if (!operation) return; // Apollo has already answered OPERATION_RESOLUTION_FAILURE
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
          const measure = measureOperation(schema, operation, fragments, request.variables ?? {}, options.limits);
          const violation = limitViolation(measure, options.limits);
          if (violation) throw badUserInput(violation, { depth: measure.depth, cost: measure.cost });
        },
      };
    },
  };
}
