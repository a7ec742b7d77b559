/**
 * Whether this run is CI: any non-empty `CI` (GitHub and GitLab set "true", others "1" or a
 * name). Under CI a missing service fails the tests that need it instead of skipping them.
 */
export const isCI = (env: Readonly<Record<string, string | undefined>> = process.env): boolean =>
  (env["CI"] ?? "") !== ""
