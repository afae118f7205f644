// Oldest-entry eviction for the policy's bounded tables (Maps kept in insertion order).

/**
 * At `max` entries or more, removes the oldest (first-inserted) one to make room for a new key:
 * by `evict` when given (which must delete it), else by map.delete.
 */
export function makeRoom<K, V>(map: Map<K, V>, max: number, evict?: (key: K, value: V) => void): void {
  if (map.size < max) return;
  const oldest = map.entries().next();
  if (oldest.done === true) return;
  if (evict === undefined) map.delete(oldest.value[0]);
  else evict(oldest.value[0], oldest.value[1]);
}
