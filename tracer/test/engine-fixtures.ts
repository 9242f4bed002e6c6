/** Where the engine tests find the fixture models made by training/make_test_models.py. */
import { fileURLToPath } from 'node:url';

export const FIXTURE_MODELS = fileURLToPath(new URL('./fixtures/models', import.meta.url));
export const fixtureModel = (name: string) => `${FIXTURE_MODELS}/${name}`;
