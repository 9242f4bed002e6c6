/** Ids of graphs traced through the API: the prompt's first words plus a random suffix, readable in URLs. */
import { randomBytes } from 'node:crypto';
import { isGraphId } from '@circuit-atlas/schema';

export function newGraphId(prompt: string): string {
  const words = prompt
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  const id = `${words || 'graph'}-${randomBytes(4).toString('hex')}`;
  if (!isGraphId(id)) throw new Error(`minted graph id '${id}' does not fit the graph-id pattern`);
  return id;
}
