/** Graph ids (the reference's `slug`): what stores, URLs and file names can all hold. */

export const GRAPH_ID_PATTERN = /^[A-Za-z0-9._-]{1,200}$/;

export function isGraphId(id: unknown): id is string {
  return typeof id === 'string' && GRAPH_ID_PATTERN.test(id);
}

/** The sentence a user sees for an id that does not fit, naming where it came from. */
export function graphIdProblem(id: unknown, where = 'graph id'): string {
  return `${where} ${JSON.stringify(id)} is not valid: use 1–200 letters, digits, '-', '_' or '.'`;
}
