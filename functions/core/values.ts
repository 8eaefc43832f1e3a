/**
 * Small helpers over plain values that every layer needs, in one place: a JSON object check, a
 * JSON parse that answers `undefined` instead of throwing, and clipping with an ellipsis.
 */

/** A plain JSON object (not an array, not null). */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The parsed value, or `undefined` when the text is not JSON. */
export function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** At most `max` characters, the last one an ellipsis when the text was cut. */
export const clip = (text: string, max: number): string =>
  text.length <= max ? text : `${text.slice(0, max - 1)}…`;
