/**
 * The attribution rows of one run, stored as they are computed (logit rows, then feature rows in
 * attribution order) and read in place by each round's partial influence.
 */
import type { RowReader } from '../graph/influence.js';
import type { SparseRow } from './rows.js';

/**
 * Rows in the order they were computed, in fixed-size segments: a row never spans two, and the
 * store grows by adding a segment, never by copying (a doubling array would hold the old and the
 * new copy at once). The partial influence of each round reads the rows in
 * place; 8 bytes per edge, nothing dense.
 */
export class RowStore implements RowReader {
  private readonly segments: { cols: Int32Array; values: Float32Array }[] = [];
  private used = 0; // entries filled in the last segment
  private rowSegment: Int32Array = new Int32Array(1024);
  private rowStart: Int32Array = new Int32Array(1024);
  private rowLength: Int32Array = new Int32Array(1024);
  nRows = 0;

  constructor(
    readonly nCols: number,
    private readonly segmentEntries = SEGMENT_ENTRIES,
  ) {}

  append(row: SparseRow): void {
    const n = row.cols.length;
    if (this.nRows === this.rowSegment.length) {
      this.rowSegment = grow(this.rowSegment, 2 * this.nRows);
      this.rowStart = grow(this.rowStart, 2 * this.nRows);
      this.rowLength = grow(this.rowLength, 2 * this.nRows);
    }
    let last = this.segments[this.segments.length - 1];
    if (!last || this.used + n > last.cols.length) {
      const size = Math.max(n, this.segmentEntries);
      last = { cols: new Int32Array(size), values: new Float32Array(size) };
      this.segments.push(last);
      this.used = 0;
    }
    last.cols.set(row.cols, this.used);
    last.values.set(row.values, this.used);
    this.rowSegment[this.nRows] = this.segments.length - 1;
    this.rowStart[this.nRows] = this.used;
    this.rowLength[this.nRows++] = n;
    this.used += n;
  }

  row(r: number): SparseRow {
    const segment = this.segments[this.rowSegment[r]];
    const [start, end] = [this.rowStart[r], this.rowStart[r] + this.rowLength[r]];
    return { cols: segment.cols.subarray(start, end), values: segment.values.subarray(start, end) };
  }
}

/**
 * Entries per row-store segment: 16M, 64 MB per array, above glibc's largest mmap threshold
 * (32 MB): a segment is its own mapping, so the unfilled end of the last one costs only the pages
 * written and a freed store goes back to the system at once. A longer row gets a segment of its own.
 */
export const SEGMENT_ENTRIES = 1 << 24;

function grow(array: Int32Array, size: number): Int32Array {
  const out = new Int32Array(size);
  out.set(array);
  return out;
}
