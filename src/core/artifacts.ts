/**
 * Artifacts: what a run keeps for people to read (a file it wrote, a table of results), typed by
 * kind so the dashboard renders each by its kind and never guesses from the data's shape, as
 * Prefect's create_link_artifact / create_table_artifact.
 *
 * | kind | data |
 * | --- | --- |
 * | link | `{ url, text? }` |
 * | table | `{ columns, rows }`: rows are objects, columns their keys in order |
 * | files | a list of addresses (lake URLs, paths) |
 * | markdown | a Markdown text |
 * | json | any JSON value (what `artifact(key, data)` keeps) |
 */
export const ARTIFACT_KINDS = Object.freeze(['link', 'table', 'files', 'markdown', 'json'] as const)
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number]
