/** What the simulator's portal methods answer, as a Bitrix24 portal writes its answers. */

/** An answer to one REST call: the HTTP status and the JSON body. */
export interface MethodAnswer {
  status: number;
  body: unknown;
}

/** A method's refusal: 400 with Bitrix24's `error` and `error_description`. */
export const methodError = (code: string, description: string): MethodAnswer => ({
  status: 400,
  body: { error: code, error_description: description },
});

/** The webhook or app lacks the method's scope. */
export const insufficientScope = (): MethodAnswer => ({
  status: 403,
  body: {
    error: "insufficient_scope",
    error_description: "The request requires higher privileges than provided by the webhook token",
  },
});

/** A positive integer parameter, given as a number or as digits (how a form sends it). */
export function positiveInt(value: unknown): number | undefined {
  const n =
    typeof value === "number"
      ? value
      : typeof value === "string" && /^\s*\d+\s*$/.test(value)
        ? Number(value)
        : Number.NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
