import { FinpipeError } from '../../errors';

/**
 * SQL identifiers (database and table names) are the one part of a statement that cannot be
 * sent as a parameter, so every identifier finpipe puts into SQL goes through quoteIdentifier:
 * it must match a conservative whitelist (letters, digits, "_" and "$", at most 64 characters:
 * MySQL's limit) and is then wrapped in backticks. Anything else — a backtick, a quote, a
 * semicolon, a space — is refused with a clear error rather than escaped: a name that needs
 * escaping is almost certainly a mistake or an attack, and refusing keeps table names
 * predictable for dashboards.
 */
export const MAX_IDENTIFIER_LENGTH = 64;
const IDENTIFIER = /^[A-Za-z0-9_$]+$/;

/** Why `name` is not a safe SQL identifier; null when it is. */
export function identifierProblem(name: string): string | null {
  if (!name) return 'SQL identifier must not be empty';
  if (name.length > MAX_IDENTIFIER_LENGTH)
    return `SQL identifier "${name.slice(0, 40)}…" is ${name.length} characters long; at most ${MAX_IDENTIFIER_LENGTH} are allowed`;
  if (!IDENTIFIER.test(name)) {
    const bad = [...new Set(name.match(/[^A-Za-z0-9_$]/g) ?? [])].map((c) => JSON.stringify(c)).join(', ');
    return `SQL identifier "${name}" contains ${bad}; only letters, digits, "_" and "$" are allowed`;
  }
  if (/^\d+$/.test(name)) return `SQL identifier "${name}" must not consist of digits only`;
  return null;
}

/** `name` validated and backtick-quoted, ready to be put into SQL text. */
export function quoteIdentifier(name: string, what = 'identifier'): string {
  const problem = identifierProblem(name);
  if (problem) {
    throw new FinpipeError('CONFIG_INVALID', `refusing ${what}: ${problem}`, {
      hint: 'use only letters, digits and "_" in names that become SQL tables or databases',
      context: { identifier: name },
    });
  }
  return `\`${name}\``;
}
