/**
 * @circuit-atlas/figure — what a circuit figure looks like, written once for the viewer and the CLI:
 * the link-graph and subgraph layouts (pure TypeScript), the palette, and the SVG writer.
 */
export * from './graph-layout.js';
export * from './palette.js';
export * from './subgraph-layout.js';
export * from './svg.js';
export * from './circuit-figure.js';
export * from './link-labels.js';
