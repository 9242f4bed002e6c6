/**
 * The start page: stored graphs (search by prompt, filter by model, open, delete, pick two to
 * compare) and the trace form with live progress that opens the new graph when it is done.
 */
import { deleteGraph, followJob, listGraphs, listModels, startTrace } from '../api/client.js';
import type { GraphSummary, Model, TraceJob } from '../api/types.js';
import { el, formatNumber } from '../dom.js';
import type { PageHost } from './graph-page.js';

export class ListPage {
  private models: Model[] = [];
  private readonly table = el('div', { class: 'graph-table' });
  private readonly compareButton = el('button', { class: 'compare', disabled: true }, 'Compare selected');
  private selected: string[] = [];

  constructor(
    private readonly root: HTMLElement,
    private readonly host: PageHost,
    private readonly open: (search: string) => void,
  ) {}

  async load(): Promise<void> {
    this.models = await listModels().catch(() => []);
    const search = el('input', {
      type: 'search',
      class: 'search',
      placeholder: 'search prompts',
      value: this.host.state.listText,
    });
    const modelFilter = el(
      'select',
      { class: 'model-filter' },
      el('option', { value: '' }, 'all models'),
      [...new Set(this.models.map((m) => m.name))].map((name) => el('option', { value: name }, name)),
    );
    modelFilter.value = this.host.state.listModel;
    const refresh = (): void => {
      this.host.update({ listText: search.value, listModel: modelFilter.value });
      void this.refresh();
    };
    search.addEventListener('input', refresh);
    modelFilter.addEventListener('change', refresh);
    this.compareButton.addEventListener('click', () => {
      if (this.selected.length === 2) this.open(`?compare=${this.selected.map(encodeURIComponent).join(',')}`);
    });
    this.root.replaceChildren(
      el(
        'div',
        { class: 'list-page' },
        this.traceForm(),
        el(
          'section',
          { class: 'graphs' },
          el('div', { class: 'filters' }, search, modelFilter, this.compareButton),
          this.table,
        ),
      ),
    );
    await this.refresh();
  }

  private traceForm(): HTMLElement {
    const model = el(
      'select',
      { class: 'trace-model' },
      this.models.map((m) =>
        el('option', { value: m.id }, `${m.id} (${m.architecture}, ${m.nLayers} layers, ${m.transcoderSet})`),
      ),
    );
    const prompt = el('input', {
      class: 'trace-prompt',
      placeholder: 'prompt to trace, e.g. Fact: the capital of the state containing Dallas is',
      size: 60,
    });
    const progress = el('progress', { class: 'trace-progress', max: 1, value: 0, hidden: true });
    const phase = el('span', { class: 'trace-phase muted' });
    const form = el(
      'form',
      { class: 'trace-form' },
      el('h3', {}, 'Trace a prompt'),
      model,
      prompt,
      el('button', { type: 'submit', class: 'trace-submit' }, 'Trace'),
      el('div', {}, progress, ' ', phase),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!prompt.value.trim()) return void (phase.textContent = 'Type a prompt to trace.');
      progress.hidden = false;
      try {
        const started: TraceJob = await startTrace(prompt.value, model.value || null);
        // Progress arrives as the server reports it (server-sent events), not by polling.
        const job = await followJob(started.id, (update) => {
          progress.value = update.progress;
          phase.textContent = `${update.status}${update.phase ? `: ${update.phase}` : ''} (${Math.round(update.progress * 100)}%)`;
        });
        if (!job) throw new Error('the server forgot the trace job');
        if (job.status !== 'done' || !job.graphId) throw new Error(job.error ?? `trace ${job.status}`);
        progress.value = 1;
        phase.textContent = 'done';
        this.open(`?graph=${encodeURIComponent(job.graphId)}`);
      } catch (error) {
        phase.textContent = `trace failed: ${(error as Error).message}`;
        phase.classList.add('error');
      }
    });
    return form;
  }

  private async refresh(): Promise<void> {
    const { listModel, listText } = this.host.state;
    let page: { total: number; items: GraphSummary[] };
    try {
      page = await listGraphs({ model: listModel, text: listText });
    } catch (error) {
      this.table.replaceChildren(el('p', { class: 'error' }, (error as Error).message));
      return;
    }
    const rows = page.items.map((g) => {
      const check = el('input', { type: 'checkbox', class: 'pick', checked: this.selected.includes(g.id) });
      check.addEventListener('change', () => {
        this.selected = check.checked ? [...this.selected, g.id].slice(-2) : this.selected.filter((id) => id !== g.id);
        this.compareButton.disabled = this.selected.length !== 2;
        this.table
          .querySelectorAll<HTMLInputElement>('input.pick')
          .forEach((box) => (box.checked = this.selected.includes(box.closest('tr')!.dataset.graphId!)));
      });
      return el(
        'tr',
        { 'data-graph-id': g.id },
        el('td', {}, check),
        el('td', { class: 'prompt' }, el('a', { href: `?graph=${encodeURIComponent(g.id)}`, class: 'open' }, g.prompt)),
        el('td', {}, g.model),
        el('td', { class: 'num' }, g.nodeCount),
        el('td', { class: 'num' }, g.edgeCount),
        el('td', { class: 'num' }, g.scores ? formatNumber(g.scores.replacement, 2) : '–'),
        el('td', { class: 'muted' }, g.createdAt.slice(0, 16).replace('T', ' ')),
        el(
          'td',
          {},
          el(
            'button',
            {
              class: 'delete',
              onclick: async () => {
                if (!window.confirm(`Delete the graph of '${g.prompt}'?`)) return;
                await deleteGraph(g.id);
                this.selected = this.selected.filter((id) => id !== g.id);
                await this.refresh();
              },
            },
            'Delete',
          ),
        ),
      );
    });
    this.table.replaceChildren(
      el('p', { class: 'muted' }, `${page.total} graph${page.total === 1 ? '' : 's'}`),
      el(
        'table',
        {},
        el(
          'tr',
          {},
          ['', 'prompt', 'model', 'nodes', 'edges', 'replacement', 'created', ''].map((h) =>
            el('th', { class: ['nodes', 'edges', 'replacement'].includes(h) ? 'num' : null }, h),
          ),
        ),
        rows,
      ),
    );
  }
}
