/**
 * The API and resolver types are generated from the SDL, never written by hand: the committed files must be
 * exactly what `npm run codegen` writes now, and every Query and Mutation field must have a resolver.
 */
import { readFileSync } from 'node:fs';
import { generate } from '@graphql-codegen/cli';
import { buildSchema } from 'graphql';
import { expect, it } from 'vitest';
import config, { API_TYPES_FILE, RESOLVER_TYPES_FILE } from '../../codegen.js';
import { resolvers } from '../src/api/resolvers.js';
import { circuitResolvers } from '../src/api/circuit-resolvers.js';
import { collectionResolvers } from '../src/api/collection-resolvers.js';
import { loadTypeDefs } from '../src/api/schema.js';

it('the committed API and resolver types are up to date with schema/graphql/schema.graphql', async () => {
  const outputs = (await generate({ ...config, cwd: process.cwd(), silent: true }, false)) as {
    filename: string;
    content: string;
  }[];
  for (const file of [API_TYPES_FILE, RESOLVER_TYPES_FILE]) {
    const generated = outputs.find((output) => output.filename.endsWith(file));
    expect(generated, `codegen produced no ${file}`).toBeDefined();
    const committed = readFileSync(file, 'utf8');
    expect(committed === generated!.content, `${file} is stale: run npm run codegen`).toBe(true);
  }
});

it('has a resolver for every query and mutation in the SDL, and none the SDL lacks', () => {
  const schema = buildSchema(loadTypeDefs());
  for (const root of [schema.getQueryType()!, schema.getMutationType()!]) {
    const declared = Object.keys(root.getFields()).sort();
    // The server merges the maps (app.ts): circuit and collection resolvers live in their own files.
    const implemented = [resolvers, circuitResolvers, collectionResolvers]
      .flatMap((map) => Object.keys((map as Record<string, object>)[root.name] ?? {}))
      .sort();
    expect(implemented, `${root.name} resolvers`).toEqual(declared);
  }
});
