/**
 * An offline GraphQL IDE at /graphiql: GraphiQL's browser bundle and React's UMD builds served
 * from node_modules, so it works with no network (Apollo's default landing page loads from a CDN).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Router, type Request, type Response } from 'express';

const require = createRequire(import.meta.url);

/** A file inside an installed package (found through its package.json, which every package exports). */
const packageFile = (name: string, file: string) => join(dirname(require.resolve(`${name}/package.json`)), file);

/** URL name → file in an installed package. */
const ASSETS: Record<string, { file: string; type: string }> = {
  'react.production.min.js': { file: packageFile('react', 'umd/react.production.min.js'), type: 'text/javascript' },
  'react-dom.production.min.js': {
    file: packageFile('react-dom', 'umd/react-dom.production.min.js'),
    type: 'text/javascript',
  },
  'graphiql.min.js': { file: packageFile('graphiql', 'graphiql.min.js'), type: 'text/javascript' },
  'graphiql.min.css': { file: packageFile('graphiql', 'graphiql.min.css'), type: 'text/css' },
};

const EXAMPLE_QUERY = `# circuit-atlas GraphQL API. Mutations need an Authorization header when the server sets
# ATLAS_TOKEN: add {"Authorization": "Bearer <token>"} under Headers below.
query Overview {
  models { id name architecture nLayers transcoderSet hasDashboards }
  graphs(limit: 10) { total items { id prompt model nodeCount edgeCount scores { replacement completeness } } }
}
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>circuit-atlas · GraphiQL</title>
<link rel="stylesheet" href="/graphiql/graphiql.min.css">
<style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="/graphiql/react.production.min.js"></script>
<script src="/graphiql/react-dom.production.min.js"></script>
<script src="/graphiql/graphiql.min.js"></script>
<script src="/graphiql/init.js"></script>
</body>
</html>
`;

const INIT = `const fetcher = GraphiQL.createFetcher({ url: new URL('/graphql', location.href).href });
ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, { fetcher, defaultQuery: ${JSON.stringify(EXAMPLE_QUERY)}, isHeadersEditorEnabled: true }),
);
`;

export function graphiqlRouter(): Router {
  const router = Router();
  router.get('/', (_req: Request, res: Response) => {
    res.type('html').send(PAGE);
  });
  router.get('/init.js', (_req: Request, res: Response) => {
    res.type('text/javascript').send(INIT);
  });
  router.get('/:asset', (req: Request, res: Response) => {
    const asset = ASSETS[String(req.params.asset)];
    if (!asset) {
      res.status(404).type('text').send('no such GraphiQL asset');
      return;
    }
    res.type(asset.type).sendFile(asset.file, { maxAge: '1d' });
  });
  return router;
}
