/**
 * `routes[0].userId` style path for error messages.
 *
 * @example formatPath(["routes", 0, "userId"]) // "routes[0].userId"
 */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (text, key) =>
      typeof key === "number" ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key),
    "",
  );
