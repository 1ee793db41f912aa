// Comparing label maps the way the planners do: what we set must be there (others may add keys
// we do not own), except where a map is a selector and must be exactly ours. Pure.

/** Every key of `want` has the same value in `live`; `live` may hold more. */
export function includes(live: Record<string, string> | undefined, want: Record<string, string> | undefined): boolean {
  return Object.entries(want ?? {}).every(([k, v]) => live?.[k] === v);
}

/** Exactly the same keys and values. */
export function sameMap(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  return Object.keys(a ?? {}).length === Object.keys(b ?? {}).length && includes(a, b);
}
