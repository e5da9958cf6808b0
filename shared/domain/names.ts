/**
 * Repository names and tags as the OCI distribution spec defines them.
 * The grammar itself rules out path traversal: a component cannot be "." or "..",
 * and no character outside [a-z0-9._/-] is accepted.
 */

const repositoryComponent = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const repositoryPattern = new RegExp(`^${repositoryComponent}(?:/${repositoryComponent})*$`);
const tagPattern = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** distribution's limit; Cosmos partition keys and blob names stay well inside it. */
export const MAX_REPOSITORY_NAME_LENGTH = 255;

export function isValidRepositoryName(name: string): boolean {
  return name.length <= MAX_REPOSITORY_NAME_LENGTH && repositoryPattern.test(name);
}

export function isValidTag(tag: string): boolean {
  return tagPattern.test(tag);
}
