/**
 * Remembers each transactional producer's transaction coordinator, as Kafka's Java client
 * does, instead of asking the cluster again before every transactional request.
 *
 * kafkajs 2.2.4 sends a FindCoordinator request before AddPartitionsToTxn, before
 * AddOffsetsToTxn and before EndTxn: three of the nine round trips of one `process`
 * transaction ask a question whose answer only changes when the coordinator moves (a broker
 * failover). `process` runs one transaction per fetched batch, so at low rates those round
 * trips are a third of the latency a trade sees (measured with a transaction-phase trace:
 * docs/benchmarks.md).
 *
 * The answer is kept per client (kafkajs Cluster) and transactional id, and forgotten when
 * it can be wrong:
 *   - one of the four transaction-coordinator requests (InitProducerId, AddPartitionsToTxn,
 *     AddOffsetsToTxn, EndTxn) for that transactional id fails with an error that can mean
 *     the coordinator moved or is gone (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
 *     COORDINATOR_LOAD_IN_PROGRESS) or with anything that is not a Kafka error code (a broken
 *     connection, a timeout): the next call looks the coordinator up again, as kafkajs does
 *     on every call. Answers the coordinator gave itself (CONCURRENT_TRANSACTIONS while the
 *     previous transaction's markers are written, a fenced epoch) keep it;
 *   - the remembered broker is no longer connected.
 * Group coordinators (consumer groups, TxnOffsetCommit) are not cached: kafkajs' consumer
 * has its own recovery around them.
 *
 * Like fast-encoding.ts this patches kafkajs internals, so only for the version it was
 * written against; any other version keeps kafkajs' behaviour.
 */

const KAFKAJS_VERSION = '2.2.4';
const CLUSTER_MODULE = 'kafkajs/src/cluster/index.js';
const BROKER_MODULE = 'kafkajs/src/broker/index.js';
const TRANSACTION_COORDINATOR = 1; // kafkajs/src/protocol/coordinatorTypes.js
const TRANSACTION_REQUESTS = ['initProducerId', 'addPartitionsToTxn', 'addOffsetsToTxn', 'endTxn'] as const;
const COORDINATOR_MOVED = new Set(['NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE', 'COORDINATOR_LOAD_IN_PROGRESS']);

/** Whether an error of a coordinator request means the coordinator may be elsewhere now. */
function coordinatorMayHaveMoved(error: unknown): boolean {
  const type = (error as { type?: unknown } | null)?.type;
  return typeof type !== 'string' || COORDINATOR_MOVED.has(type);
}

interface KafkajsBroker {
  isConnected(): boolean;
}
interface CoordinatorQuery {
  groupId: string;
  coordinatorType?: number;
}
type FindCoordinator = (this: object, query: CoordinatorQuery) => Promise<KafkajsBroker>;
type BrokerRequest = (this: KafkajsBroker, args: { transactionalId?: string }) => Promise<unknown>;

/** transactional id -> the client that looked it up and the coordinator it found. */
const coordinators = new Map<string, { cluster: object; broker: KafkajsBroker }>();

let installed: boolean | undefined;

/* eslint-disable @typescript-eslint/no-require-imports -- kafkajs internals, by path, on purpose */

/** Installs the cache once per process; returns whether it is in use. */
export function installCoordinatorCache(): boolean {
  if (installed !== undefined) return installed;
  installed = false;
  try {
    const pkg = require('kafkajs/package.json') as { version: string };
    if (pkg.version !== KAFKAJS_VERSION) return false;
    const Cluster = require(CLUSTER_MODULE) as { prototype: { findGroupCoordinator: FindCoordinator } };
    const Broker = require(BROKER_MODULE) as { prototype: Record<string, BrokerRequest> };
    if (typeof Cluster.prototype.findGroupCoordinator !== 'function') return false;
    if (TRANSACTION_REQUESTS.some((name) => typeof Broker.prototype[name] !== 'function')) return false;

    const find = Cluster.prototype.findGroupCoordinator;
    Cluster.prototype.findGroupCoordinator = async function (this: object, query: CoordinatorQuery) {
      if (query.coordinatorType !== TRANSACTION_COORDINATOR) return find.call(this, query);
      const known = coordinators.get(query.groupId);
      if (known && known.cluster === this && known.broker.isConnected()) return known.broker;
      const broker = await find.call(this, query);
      coordinators.set(query.groupId, { cluster: this, broker });
      return broker;
    };
    for (const name of TRANSACTION_REQUESTS) {
      const request = Broker.prototype[name];
      Broker.prototype[name] = async function (this: KafkajsBroker, args) {
        try {
          return await request.call(this, args);
        } catch (error) {
          if (args?.transactionalId !== undefined && coordinatorMayHaveMoved(error)) coordinators.delete(args.transactionalId);
          throw error;
        }
      };
    }
    installed = true;
  } catch {
    // kafkajs laid out differently: it keeps looking the coordinator up every time
  }
  return installed;
}

export { coordinatorMayHaveMoved };

/** For tests: how many coordinators are remembered. */
export function cachedCoordinators(): number {
  return coordinators.size;
}
