import type { Admin } from 'kafkajs';
import type { KafkaConfig } from '../config';
import type { Logger } from '../log';
import { FinpipeError } from '../errors';
import { createKafka } from './client';
import { isKafkaConnectionError, kafkaUnavailable } from './errors';

/** Runs `fn` with a connected admin client and always disconnects it. */
export async function withAdmin<T>(config: KafkaConfig, logger: Logger, fn: (admin: Admin) => Promise<T>): Promise<T> {
  // An interactive admin command should fail within seconds, not wait out a long outage.
  const admin = createKafka(config, logger, 'admin', { retries: 3 }).admin();
  try {
    await admin.connect();
  } catch (error) {
    throw kafkaUnavailable(error, config.brokers);
  }
  try {
    return await fn(admin);
  } catch (error) {
    if (error instanceof FinpipeError) throw error;
    if (isKafkaConnectionError(error)) throw kafkaUnavailable(error, config.brokers);
    throw error;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
