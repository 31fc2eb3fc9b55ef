/**
 * Replays recorded frames: one Finnhub frame per line (NDJSON), exactly as `produce
 * --record` writes them. Blank lines are skipped; every other line goes through the same
 * validation as a websocket frame, with `file:line` as its dead-letter origin.
 */
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { FinpipeError } from '../errors';
import type { FrameSink, TradeSource } from './types';

export class FileSource implements TradeSource {
  readonly description: string;
  readonly reconnects = 0;
  linesRead = 0;

  constructor(private readonly path: string) {
    this.description = `file ${path}`;
  }

  async run(sink: FrameSink, signal: AbortSignal): Promise<void> {
    try {
      await access(this.path);
    } catch (error) {
      throw new FinpipeError('IO_ERROR', `cannot read ${this.path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
        cause: error,
        hint: 'give an NDJSON file of Finnhub frames, e.g. one written by `finpipe produce --record`',
      });
    }
    const stream = createReadStream(this.path, { encoding: 'utf8', highWaterMark: 1 << 20 });
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        if (signal.aborted) break;
        const lineNo = ++this.linesRead;
        if (line.trim() === '') continue;
        const wait = sink.frame(Buffer.from(line, 'utf8'), false, `${this.path}:${lineNo}`);
        if (wait) await wait;
      }
    } catch (error) {
      if (error instanceof FinpipeError) throw error;
      throw new FinpipeError('IO_ERROR', `error reading ${this.path}: ${(error as Error).message}`, { cause: error });
    } finally {
      lines.close();
      stream.destroy();
    }
  }
}
