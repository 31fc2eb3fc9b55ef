import { createWriteStream, type WriteStream } from 'node:fs';
import { FinpipeError } from '../errors';
import type { Logger } from '../log';

/** `--record`: appends every text frame received to an NDJSON file that a file source replays. */
export class FrameRecorder {
  private constructor(private readonly stream: WriteStream) {}

  /** Opens (appends to) `path`; refuses at once when the file cannot be written, before any frame is taken. */
  static async open(path: string, logger: Logger): Promise<FrameRecorder> {
    const stream = createWriteStream(path, { flags: 'a' });
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (error) =>
        reject(
          new FinpipeError('IO_ERROR', `cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? error.message}`, { cause: error }),
        ),
      );
    });
    logger.info({ file: path }, `recording frames to ${path}`);
    return new FrameRecorder(stream);
  }

  /** A promise when the file lags behind: the source then waits, as for a full Kafka buffer. */
  write(frame: Buffer): Promise<void> | undefined {
    // One frame per line; JSON needs no raw newlines, so folding them keeps the frame's meaning.
    if (this.stream.write(`${frame.toString('utf8').replace(/[\r\n]+/g, ' ')}\n`)) return undefined;
    return new Promise((resolve) => this.stream.once('drain', () => resolve()));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(() => resolve()));
  }
}
