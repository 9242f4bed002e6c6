/** The viewer's requests about collections and batches (the API's issue-13 fields). */
import type { Api } from '@circuit-atlas/schema';
import { graphql } from './client.js';

export type CommonCircuit = Api.CommonCircuit;
export type GraphClustering = Api.GraphClustering;
export type FeatureUsePage = Api.FeatureUsePage;
export type Batch = Omit<Api.Batch, 'prompts'> & { prompts: Api.BatchPrompt[] };

export async function getCommonCircuit(model: string, minShare: number): Promise<CommonCircuit> {
  const data = await graphql<{ commonCircuit: CommonCircuit }>(
    `
      query ($c: CollectionInput!, $k: Float) {
        commonCircuit(collection: $c, minShare: $k, maxFeatures: 50, maxEdges: 50) {
          model
          transcoderSet
          graphCount
          minShare
          features {
            layer
            index
            graphCount
            share
            activation {
              mean
              spread
            }
          }
          edges {
            sourceLayer
            sourceIndex
            targetKind
            targetLayer
            targetIndex
            targetTokenId
            targetToken
            graphCount
            share
            weight {
              mean
              spread
            }
          }
        }
      }
    `,
    { c: { model }, k: minShare },
  );
  return data.commonCircuit;
}

export async function getClusters(model: string, minSimilarity: number): Promise<GraphClustering> {
  const data = await graphql<{ graphClusters: GraphClustering }>(
    `
      query ($c: CollectionInput!, $s: Float) {
        graphClusters(collection: $c, minSimilarity: $s) {
          model
          graphCount
          minSimilarity
          clusters {
            graphIds
            prompts
            cohesion
            features {
              layer
              index
              graphCount
            }
          }
        }
      }
    `,
    { c: { model }, s: minSimilarity },
  );
  return data.graphClusters;
}

export async function getFeatureUses(model: string, layer: number, index: number): Promise<FeatureUsePage> {
  const data = await graphql<{ graphsUsingFeature: FeatureUsePage }>(
    `
      query ($c: CollectionInput!, $l: Int!, $i: Int!) {
        graphsUsingFeature(collection: $c, layer: $l, index: $i, limit: 50) {
          collectionSize
          total
          items {
            graphId
            prompt
            occurrences
            maxActivation
          }
        }
      }
    `,
    { c: { model }, l: layer, i: index },
  );
  return data.graphsUsingFeature;
}

export async function getBatch(id: string): Promise<Batch | null> {
  const data = await graphql<{ batch: Batch | null }>(
    `
      query ($id: ID!) {
        batch(id: $id) {
          id
          model
          queue
          total
          progress
          finished
          cancelled
          counts {
            queued
            running
            retrying
            done
            failed
            cancelled
          }
          prompts(limit: 500) {
            graphId
            prompt
            state
            attempts
            progress
            error
          }
        }
      }
    `,
    { id },
  );
  return data.batch;
}

export async function cancelBatch(id: string): Promise<void> {
  await graphql(
    `
      mutation ($id: ID!) {
        cancelBatch(id: $id) {
          id
        }
      }
    `,
    { id },
  );
}
