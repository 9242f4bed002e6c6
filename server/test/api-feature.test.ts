/**
 * A feature's dashboard comes from its model's `dashboards/layer_{l}.json`, an array of the
 * reference's feature detail objects (circuit-tracer frontend/feature_models.py), keyed by `index`.
 * The model folder here is the llama-tiny fixture (linked file by file) plus a dashboard file in
 * that format; the demo model's own dashboards are checked too when it is there.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/app.js';
import { ModelCatalog } from '../src/models/catalog.js';
import type { GraphStore } from '../src/store/graph-store.js';
import { openStore } from '../src/store/open-store.js';
import { FIXTURE_MODELS, gql, gqlData } from './api-support.js';

const DEMO_DIR = fileURLToPath(new URL('../../models/atlas-world', import.meta.url));

/** Two features of layer 1 in the reference's feature detail format. */
const LAYER_1 = [
  {
    transcoder_id: 'circuit-atlas-tests/llama-tiny',
    index: 7,
    examples_quantiles: [
      {
        quantile_name: 'Top activations',
        examples: [
          {
            tokens: ['<bos>', 'The', 'capital', 'of', 'Texas'],
            tokens_acts_list: [0, 0, 0.5, 0, 3.25],
            train_token_ind: 4,
            is_repeated_datapoint: false,
          },
        ],
      },
      {
        quantile_name: 'Subsample Interval 0',
        examples: [
          {
            tokens: ['<bos>', 'Dallas', 'is'],
            tokens_acts_list: [0, 1.5, 0.25],
            train_token_ind: 1,
            is_repeated_datapoint: false,
          },
        ],
      },
    ],
    top_logits: ['Austin', 'Houston'],
    bottom_logits: ['Paris'],
    act_min: 0,
    act_max: 3.25,
    quantile_values: [0.5, 1.5, 3.25],
    histogram: [4, 2, 1],
    activation_frequency: 0.0125,
    label: 'Texas',
  },
  {
    transcoder_id: 'circuit-atlas-tests/llama-tiny',
    index: 9,
    examples_quantiles: [],
    top_logits: [],
    bottom_logits: [],
    act_min: 0,
    act_max: 0.5,
    quantile_values: [],
    histogram: [],
    activation_frequency: 0.5,
  },
];

let dir: string;
let store: GraphStore;
let server: RunningServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'atlas-api-feature-'));
  const modelDir = join(dir, 'models', 'mini');
  mkdirSync(join(modelDir, 'dashboards'), { recursive: true });
  const fixture = join(FIXTURE_MODELS, 'llama-tiny');
  for (const entry of readdirSync(fixture)) symlinkSync(join(fixture, entry), join(modelDir, entry));
  writeFileSync(join(modelDir, 'dashboards', 'layer_1.json'), JSON.stringify(LAYER_1));
  if (existsSync(join(DEMO_DIR, 'config.json'))) symlinkSync(DEMO_DIR, join(dir, 'models', 'atlas-world'));
  store = await openStore({ ATLAS_DB: join(dir, 'atlas.sqlite') });
  server = await startServer({ store, catalog: new ModelCatalog(join(dir, 'models')) });
});

afterAll(async () => {
  await server?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const FEATURE_QUERY = `query($m: String!, $l: Int!, $i: Int!) { feature(model: $m, layer: $l, index: $i) {
  model transcoderSet layer index
  dashboard { activationFrequency actMax actMin autoLabel histogram topLogits { token value } bottomLogits { token value }
    quantiles { name examples { trainTokenIndex tokens { token activation } } } }
} }`;

it('serves a feature dashboard from the model folder, in the API’s shape', async () => {
  const { models } = await gqlData<{ models: { id: string; hasDashboards: boolean }[] }>(
    server.url,
    '{ models { id hasDashboards } }',
  );
  expect(models.find((model) => model.id === 'mini')?.hasDashboards).toBe(true);
  const { feature } = await gqlData<{ feature: Record<string, unknown> }>(server.url, FEATURE_QUERY, {
    m: 'mini',
    l: 1,
    i: 7,
  });
  expect(feature).toEqual({
    model: 'mini',
    transcoderSet: 'circuit-atlas-tests/llama-tiny',
    layer: 1,
    index: 7,
    dashboard: {
      activationFrequency: 0.0125,
      actMax: 3.25,
      actMin: 0,
      // Computed from the dashboards, not the file's 'Texas': over two contexts nothing stands out, so weak.
      autoLabel: expect.stringMatching(/^\(.+\)$/),
      histogram: [4, 2, 1],
      topLogits: [
        { token: 'Austin', value: null },
        { token: 'Houston', value: null },
      ],
      bottomLogits: [{ token: 'Paris', value: null }],
      quantiles: [
        {
          name: 'Top activations',
          examples: [
            {
              trainTokenIndex: 4,
              tokens: [
                { token: '<bos>', activation: 0 },
                { token: 'The', activation: 0 },
                { token: 'capital', activation: 0.5 },
                { token: 'of', activation: 0 },
                { token: 'Texas', activation: 3.25 },
              ],
            },
          ],
        },
        {
          name: 'Subsample Interval 0',
          examples: [
            {
              trainTokenIndex: 1,
              tokens: [
                { token: '<bos>', activation: 0 },
                { token: 'Dallas', activation: 1.5 },
                { token: 'is', activation: 0.25 },
              ],
            },
          ],
        },
      ],
    },
  });
});

it('answers a null dashboard for a feature or layer without one', async () => {
  for (const [layer, index] of [
    [1, 8],
    [0, 7],
  ]) {
    const { feature } = await gqlData<{ feature: { dashboard: unknown } }>(server.url, FEATURE_QUERY, {
      m: 'mini',
      l: layer,
      i: index,
    });
    expect(feature.dashboard).toBeNull();
  }
});

it('rejects a layer or index outside the model with the valid range', async () => {
  const layer = await gql(server.url, FEATURE_QUERY, { m: 'mini', l: 3, i: 7 });
  expect(layer.errors![0].extensions!.code).toBe('BAD_USER_INPUT');
  expect(layer.errors![0].message).toBe('layer must be a whole number from 0 to 2, got 3');
  const index = await gql(server.url, FEATURE_QUERY, { m: 'mini', l: 1, i: 1_000_000 });
  expect(index.errors![0].message).toMatch(/^index must be a whole number from 0 to \d+, got 1000000$/);
});

it.runIf(existsSync(join(DEMO_DIR, 'dashboards', 'layer_0.json')))(
  'serves the demo model’s own dashboards',
  async () => {
    const details = JSON.parse(readFileSync(join(DEMO_DIR, 'dashboards', 'layer_0.json'), 'utf8')) as {
      index: number;
      act_max: number;
    }[];
    const { feature } = await gqlData<{ feature: { dashboard: { actMax: number; quantiles: unknown[] } } }>(
      server.url,
      FEATURE_QUERY,
      {
        m: 'atlas-world',
        l: 0,
        i: details[0].index,
      },
    );
    expect(feature.dashboard.actMax).toBe(details[0].act_max);
  },
);
