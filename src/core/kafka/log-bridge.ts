import { logLevel as KafkaLogLevel, type logCreator } from 'kafkajs';
import type { Logger } from '../log';
import { isRoutineRetry } from './errors';

/** kafkajs logs through finpipe's logger, as module "kafkajs", at levels that match what they mean to a user. */
export function kafkaLogCreator(logger: Logger): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const {
        message,
        timestamp: _t,
        logger: _l,
        ...extra
      } = log as { message: string; timestamp?: string; logger?: string; [k: string]: unknown };
      const child = logger.child({ module: 'kafkajs', namespace });
      if (level === KafkaLogLevel.ERROR && isRoutineRetry(message, extra)) child.debug(extra, message);
      else if (level === KafkaLogLevel.ERROR) child.error(extra, message);
      else if (level === KafkaLogLevel.WARN) child.warn(extra, message);
      else if (level === KafkaLogLevel.INFO)
        child.debug(extra, message); // kafkajs INFO is lifecycle chatter
      else child.trace(extra, message);
    };
}

/** The kafkajs level that lets through what finpipe's level would show. */
export function kafkaLogLevel(level: string): KafkaLogLevel {
  if (level === 'debug' || level === 'trace') return KafkaLogLevel.DEBUG;
  if (level === 'silent' || level === 'fatal') return KafkaLogLevel.NOTHING;
  if (level === 'error') return KafkaLogLevel.ERROR;
  return KafkaLogLevel.WARN;
}
