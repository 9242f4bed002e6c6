/**
 * Ids of saved views: UUID version 7 (RFC 9562) — a millisecond timestamp, then a counter, then
 * random bits — so that sorting views by (createdAt, id) lists them in the order they were saved,
 * even when several are saved within one millisecond. Both stores use it.
 */
import { randomBytes } from 'node:crypto';

let lastMs = 0;
let sequence = 0;

export function newViewId(): string {
  const now = Date.now();
  if (now > lastMs) {
    lastMs = now;
    sequence = 0;
  } else if (++sequence > 0xfff) {
    // 4096 ids in one millisecond: borrow the next millisecond rather than lose the order.
    lastMs += 1;
    sequence = 0;
  }
  const bytes = randomBytes(16);
  bytes.writeUIntBE(lastMs, 0, 6); // 48-bit Unix time in ms
  bytes[6] = 0x70 | (sequence >> 8); // version 7, counter high bits
  bytes[7] = sequence & 0xff;
  bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 9562 variant
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
