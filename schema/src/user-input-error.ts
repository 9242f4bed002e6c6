/**
 * The user asked for something that cannot be done: an empty prompt, an unknown feature, a setting out
 * of range. Its message says what to change; the CLI and the API show it as it is.
 */
export class UserInputError extends Error {
  override readonly name = 'UserInputError';
}
