import { createContext, type GlobalOptions } from '../context';
import { consume, streamOutput } from '../../core/consume';
import type { ConsumeFormat } from '../../core/consume/format';
import { parseOffsetSpec } from '../../core/consume/offset-spec';
import { registryDecoder } from '../../core/consume/registry';
import { shutdownSignal } from '../../core/lifecycle';
import { assertTopicName } from '../../core/symbols';

export interface ConsumeFlags {
  offset: string;
  partition?: number[];
  num?: number;
  follow: boolean;
  key: boolean;
  headers: boolean;
  format?: ConsumeFormat;
}

export async function runConsume(global: GlobalOptions, topic: string, flags: ConsumeFlags): Promise<void> {
  assertTopicName(topic);
  const { config, logger } = createContext(global, 'consume');
  const format = flags.format ?? (process.stdout.isTTY ? 'table' : 'json');
  const shutdown = shutdownSignal(logger);
  try {
    const count = await consume(
      config,
      logger,
      {
        topic,
        offset: parseOffsetSpec(flags.offset),
        partitions: flags.partition ?? [],
        limit: flags.num,
        follow: flags.follow,
        print: { format, key: flags.key, headers: flags.headers },
        decode: config.schemaRegistry ? { framed: registryDecoder(config.schemaRegistry) } : {},
      },
      shutdown.signal,
      streamOutput(process.stdout),
    );
    logger.info({ topic, records: count }, `consumed ${count} record(s) from ${topic}`);
  } finally {
    shutdown.dispose();
  }
}
