/**
 * The tracer's error types. Each message says what is wrong and what to do about it, so the CLI
 * and the API can show it to a user as it is.
 */

/** A model, tokenizer or transcoder file is missing, truncated, or has the wrong names or shapes. */
export class ModelFormatError extends Error {
  override readonly name = 'ModelFormatError';
  constructor(
    message: string,
    /** The file the problem was found in, when there is one. */
    readonly file?: string,
  ) {
    super(file ? `${message} (in ${file})` : message);
  }
}

/** The user asked for something that cannot be done; defined with the contracts, shared by every layer. */
export { UserInputError } from '@circuit-atlas/schema';

/** A long computation was cancelled by its caller (an AbortSignal fired). */
export class CancelledError extends Error {
  override readonly name = 'CancelledError';
  constructor(message = 'cancelled') {
    super(message);
  }
}
