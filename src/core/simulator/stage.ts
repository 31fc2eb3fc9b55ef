import { FinpipeError } from '../errors';
import { aborted } from '../lifecycle';
import type { Stage } from '../stage';
import { startSimulator } from './server';
import { SIMULATOR_DEFAULTS, type RunningSimulator, type SimulatorOptions, type SimulatorStats } from './types';

export interface SimulatorStageOptions extends SimulatorOptions {
  /** Once listening: where (port 0 picks a free port, so only the running server knows). */
  onListening?: (sim: RunningSimulator) => void;
}

const NOTHING_SENT: SimulatorStats = { connections: 0, tradesSent: 0, framesSent: 0, malformedSent: 0, drops: 0 };

/** `finpipe simulate` as a Stage: serves until the signal aborts, then closes every socket and the server. */
export class SimulatorStage implements Stage<SimulatorStats> {
  readonly name = 'simulate';
  private sim: RunningSimulator | undefined;

  constructor(private readonly opts: SimulatorStageOptions) {}

  async run(signal: AbortSignal): Promise<SimulatorStats> {
    const sim = (this.sim = await this.listen());
    this.opts.onListening?.(sim);
    await aborted(signal);
    await sim.close();
    return sim.stats();
  }

  snapshot(): SimulatorStats {
    return this.sim?.stats() ?? { ...NOTHING_SENT };
  }

  /** Starts the server; a port it cannot have or an invalid option is the user's to fix. */
  private async listen(): Promise<RunningSimulator> {
    try {
      return await startSimulator(this.opts);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES') {
        throw new FinpipeError('USAGE', `cannot listen on ${this.opts.host ?? SIMULATOR_DEFAULTS.host}:${this.opts.port}: ${code}`, {
          hint: 'pick another port with --port (0 = any free port)',
          cause: error,
        });
      }
      if (error instanceof RangeError) throw new FinpipeError('USAGE', error.message, { cause: error });
      throw error;
    }
  }
}
