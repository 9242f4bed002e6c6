import cytoscape from 'cytoscape';
import dagre from 'cytoscape-dagre';
cytoscape.use(dagre);
const cy = cytoscape({ headless: true, styleEnabled: true, elements: [{data:{id:'a'}},{data:{id:'b'}},{data:{id:'c'}},{data:{id:'e',source:'a',target:'b'}},{data:{id:'f',source:'a',target:'c'}}] });
cy.layout({ name: 'dagre', rankDir: 'BT' } as any).run();
console.log(cy.nodes().map(n => [n.id(), n.position()]));
