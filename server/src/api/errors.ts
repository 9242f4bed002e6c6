/**
 * The API's error vocabulary. Every error a client sees carries `extensions.code` and a message that
 * says what to fix; stack traces never leave the server. Errors of the layers below (StoreError,
 * UserInputError, ModelFormatError) are mapped here, in one place.
 */
import { HeaderMap } from '@apollo/server';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { StoreError } from '../store/store-error.js';

export type ApiErrorCode =
  'BAD_USER_INPUT' | 'NOT_FOUND' | 'UNAUTHENTICATED' | 'SERVICE_UNAVAILABLE' | 'INTERNAL_SERVER_ERROR';

/** HTTP status Apollo answers with when the error happens before execution (auth, limits). */
const HTTP_STATUS: Record<ApiErrorCode, number> = {
  BAD_USER_INPUT: 400,
  NOT_FOUND: 404,
  UNAUTHENTICATED: 401,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL_SERVER_ERROR: 500,
};

export function apiError(code: ApiErrorCode, message: string, extra: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code, http: { status: HTTP_STATUS[code] }, ...extra } });
}

export const badUserInput = (message: string, extra?: Record<string, unknown>) =>
  apiError('BAD_USER_INPUT', message, extra);
export const notFound = (message: string) => apiError('NOT_FOUND', message);
export const unauthenticated = (message: string) => apiError('UNAUTHENTICATED', message);

/** The server has no room for this request now: 503 with Retry-After, so clients back off and retry. */
export function busy(message: string, retryAfterSeconds: number): GraphQLError {
  return new GraphQLError(message, {
    extensions: {
      code: 'SERVICE_UNAVAILABLE',
      retryAfterSeconds,
      http: { status: 503, headers: new HeaderMap([['retry-after', String(retryAfterSeconds)]]) },
    },
  });
}

/** graphql-js's message when a document passes the parser's token limit. */
const TOO_MANY_TOKENS = /^Syntax Error: Document contains more th(?:an|at) (\d+) tokens/;

/** The codes a StoreError maps to: a duplicate or invalid graph is the caller's to fix. */
const STORE_CODES: Record<StoreError['code'], ApiErrorCode> = {
  NOT_FOUND: 'NOT_FOUND',
  DUPLICATE: 'BAD_USER_INPUT',
  INVALID: 'BAD_USER_INPUT',
  UNAVAILABLE: 'SERVICE_UNAVAILABLE',
};

/** Error names of the lower layers whose messages are written for users (tracer/src/errors.ts). */
const USER_FACING = new Set(['UserInputError', 'ModelFormatError']);

/** Maps an error thrown below the API to its code; null for errors that are bugs. */
export function codeOf(error: unknown): ApiErrorCode | null {
  if (error instanceof StoreError) return STORE_CODES[error.code];
  if (error instanceof Error && USER_FACING.has(error.name)) return 'BAD_USER_INPUT';
  return null;
}

/**
 * Apollo's `formatError`: keeps GraphQL errors that already have a code (parse, validation, ours),
 * maps the lower layers' typed errors, and hides anything else behind a generic message — the
 * details of a bug go to the server log, not to the client.
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  const code = codeOf(original);
  if (code && original instanceof Error) {
    return { message: original.message, locations: formatted.locations, path: formatted.path, extensions: { code } };
  }
  const existing = formatted.extensions?.code;
  const tooManyTokens = TOO_MANY_TOKENS.exec(formatted.message);
  if (existing === 'GRAPHQL_PARSE_FAILED' && tooManyTokens) {
    return {
      message: `query has more than ${tooManyTokens[1]} tokens, the server's limit: send fewer aliased fields or split it into several requests`,
      extensions: { code: 'GRAPHQL_PARSE_FAILED' },
    };
  }
  if (typeof existing === 'string' && existing !== 'INTERNAL_SERVER_ERROR') {
    return { ...formatted, extensions: withoutStacktrace(formatted.extensions) };
  }
  process.stderr.write(
    `circuit-atlas api: internal error: ${original instanceof Error ? original.stack : String(original)}\n`,
  );
  return {
    message: 'internal server error; the details are in the server log',
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: 'INTERNAL_SERVER_ERROR' },
  };
}

function withoutStacktrace(extensions: Record<string, unknown> | undefined): Record<string, unknown> {
  const { stacktrace: _stacktrace, http: _http, ...rest } = extensions ?? {};
  return rest;
}
