/**
 * Cuts items, in order, into groups whose sizes add up to at most `maxSize` each; an item larger than that forms a
 * group of its own (never dropped). Used for Kafka produce requests and for index names joined in one URL.
 */
export function groupBySize<T>(items: readonly T[], sizeOf: (item: T) => number, maxSize: number): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const item of items) {
    const s = sizeOf(item);
    if (current.length > 0 && size + s > maxSize) {
      groups.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += s;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}
