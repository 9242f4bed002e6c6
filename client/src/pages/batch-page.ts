/**
 * A batch's progress (`?batch=<id>`): one bar for the batch, counts by state, and every prompt with
 * its state; failed prompts show why. Polls until the batch is finished; cancel stops it.
 */
import { cancelBatch, getBatch, type Batch } from '../api/collection.js';
import { el, formatNumber } from '../dom.js';

const POLL_MS = 1000;

export class BatchPage {
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly root: HTMLElement,
    private readonly id: string,
  ) {}

  async load(): Promise<void> {
    const batch = await getBatch(this.id);
    if (!batch) throw new Error(`no batch '${this.id}' on this server`);
    this.render(batch);
    if (!batch.finished)
      this.timer = setTimeout(() => void this.load().catch((e: Error) => this.showError(e)), POLL_MS);
  }

  destroy(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  private showError(error: Error): void {
    this.root.append(el('p', { class: 'error' }, error.message));
  }

  private render(batch: Batch): void {
    const counts = Object.entries(batch.counts)
      .filter(([, n]) => n > 0)
      .map(([state, n]) => `${n} ${state}`)
      .join(' · ');
    this.root.replaceChildren(
      el(
        'div',
        { class: 'batch-page' },
        el(
          'div',
          { class: 'toolbar' },
          el('a', { href: '?', class: 'back' }, '← graphs'),
          el('h2', {}, `Batch ${batch.id}`),
          el('span', { class: 'muted' }, `${batch.total} prompts · model ${batch.model} · ${batch.queue}`),
          batch.finished
            ? null
            : el(
                'button',
                { class: 'cancel-batch', onclick: () => void cancelBatch(batch.id).then(() => this.load()) },
                'Cancel',
              ),
        ),
        el('progress', { class: 'batch-progress', max: 1, value: batch.progress }),
        el('p', { class: 'batch-counts' }, `${formatNumber(batch.progress * 100, 0)}% · ${counts}`),
        el(
          'table',
          { class: 'batch-prompts' },
          el(
            'thead',
            {},
            el(
              'tr',
              {},
              ['prompt', 'state', 'tries', 'why it failed'].map((h) => el('th', {}, h)),
            ),
          ),
          el(
            'tbody',
            {},
            batch.prompts.map((p) =>
              el(
                'tr',
                { class: `batch-prompt state-${p.state}` },
                el(
                  'td',
                  {},
                  p.state === 'done'
                    ? el('a', { href: `?graph=${encodeURIComponent(p.graphId)}` }, p.prompt)
                    : p.prompt,
                ),
                el('td', {}, p.state === 'running' ? `running ${formatNumber(p.progress * 100, 0)}%` : p.state),
                el('td', {}, String(p.attempts)),
                el('td', { class: 'error' }, p.error ?? ''),
              ),
            ),
          ),
        ),
      ),
    );
    document.body.dataset.batchState = batch.finished ? 'finished' : 'running';
  }
}
