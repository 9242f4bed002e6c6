/** The one error type of the store layer; `code` lets the API map it to a GraphQL error code. */
export type StoreErrorCode = 'NOT_FOUND' | 'DUPLICATE' | 'INVALID' | 'UNAVAILABLE';

export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
  }
}
