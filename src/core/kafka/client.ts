import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import {
  Kafka,
  type ISocketFactory,
  type ConsumerConfig,
  type Consumer,
  type KafkaConfig as KafkaJsConfig,
  type SASLOptions,
} from 'kafkajs';
import type { KafkaConfig } from '../config';
import { FinpipeError } from '../errors';
import type { Logger } from '../log';
import { kafkaLogCreator, kafkaLogLevel } from './log-bridge';
import { withConsumerSettings, type ClientSettings } from './client-settings';
import { installFastRecordEncoder } from './fast-encoding';
import { installCoordinatorCache } from './coordinator-cache';
import { installReadCommittedFix } from './read-committed';

/** A kafkajs client whose consumers get the `-X` consumer settings on top of their own. */
class ConfiguredKafka extends Kafka {
  constructor(
    config: KafkaJsConfig,
    private readonly settings: ClientSettings | undefined,
  ) {
    super(config);
  }

  override consumer(config: ConsumerConfig): Consumer {
    return super.consumer(withConsumerSettings(config, this.settings));
  }
}

/**
 * kafkajs' own sockets, with Nagle's algorithm off (TCP_NODELAY), as Kafka's Java client and
 * broker set it. Node leaves Nagle on: a request written while an earlier segment on the
 * connection is unacknowledged can wait for the peer's delayed ACK.
 */
export const noDelaySockets: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  const socket = ssl
    ? tls.connect({ host, port, ...(net.isIP(host) ? {} : { servername: host }), ...ssl }, onConnect)
    : net.connect({ host, port }, onConnect);
  socket.setKeepAlive(true, 60_000);
  socket.setNoDelay(true);
  return socket;
};

/**
 * One kafkajs client per stage, with finpipe's TLS/SASL settings and its logs bridged into
 * finpipe's logger. `stage` becomes part of the client id so broker-side quotas and logs
 * tell produce, process and sink apart.
 */
export function createKafka(config: KafkaConfig, logger: Logger, stage: string, { retries = 8 }: { retries?: number } = {}): Kafka {
  installFastRecordEncoder(); // before any producer sends: see fast-encoding.ts
  installCoordinatorCache(); // see coordinator-cache.ts
  installReadCommittedFix(); // before any consumer fetches: see read-committed.ts
  let ssl: KafkaJsConfig['ssl'] = undefined;
  if (config.ssl) {
    let ca: string | undefined;
    if (config.sslCaFile) {
      try {
        ca = readFileSync(config.sslCaFile, 'utf8');
      } catch (error) {
        throw new FinpipeError('CONFIG_INVALID', `kafka.sslCaFile: cannot read ${config.sslCaFile}`, {
          cause: error,
          hint: 'point FINPIPE_KAFKA_SSL_CA_FILE at a readable PEM file',
        });
      }
    }
    ssl = { rejectUnauthorized: config.sslRejectUnauthorized, ...(ca ? { ca: [ca] } : {}) };
  }
  const sasl = config.sasl
    ? ({ mechanism: config.sasl.mechanism, username: config.sasl.username, password: config.sasl.password } as SASLOptions)
    : undefined;
  const settings = config.clientSettings;
  return new ConfiguredKafka(
    {
      clientId: `${settings?.clientId ?? config.clientId}-${stage}`,
      brokers: config.brokers,
      ssl,
      sasl,
      connectionTimeout: 5_000,
      requestTimeout: 30_000,
      socketFactory: noDelaySockets,
      ...settings?.client,
      logLevel: kafkaLogLevel(logger.level),
      logCreator: kafkaLogCreator(logger),
      // Reconnects are retried by the stages themselves with their own backoff and messages;
      // kafkajs' retries cover short blips inside one operation.
      retry: { initialRetryTime: 200, retries, maxRetryTime: 10_000, ...settings?.retry },
    },
    settings,
  );
}
