import { CONSUME_GROUP_PREFIX } from '../consume/reader';
import { DASHBOARD_GROUP_PREFIX } from '../dashboard/live';
import { PROCESS_DEFAULTS } from '../process/options';
import { SINK_DEFAULTS } from '../sink/options';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * finpipe's own groups, by their default names, and what each is. A group given another
 * name with --group is not recognised (its name is all Kafka knows). Transient groups are
 * private to one run and deleted when it ends; one left over from a killed run is harmless.
 */
const ROLES: [RegExp, string][] = [
  [new RegExp(`-state-reader-${UUID}$`), 'process state reader (transient)'],
  [new RegExp(`^${escape(DASHBOARD_GROUP_PREFIX)}${UUID}$`), 'dashboard live feed (transient)'],
  [new RegExp(`^${escape(CONSUME_GROUP_PREFIX)}${UUID}$`), 'consume (transient)'],
  [new RegExp(`^${escape(PROCESS_DEFAULTS.groupId)}(?:-.+)?$`), 'process'],
  [new RegExp(`^${escape(SINK_DEFAULTS.groupId)}$`), 'sink'],
];

/** What the group is to finpipe, or null for a group that is not finpipe's. */
export function finpipeRole(groupId: string): string | null {
  return ROLES.find(([pattern]) => pattern.test(groupId))?.[1] ?? null;
}
