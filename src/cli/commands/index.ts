import type { Command } from 'commander';
import { topicsCommand } from './topics';
import { produceCommand } from './produce';
import { processCommand } from './process';
import { sinkCommand } from './sink';
import { simulateCommand } from './simulate';
import { statusCommand } from './status';
import { demoCommand } from './demo';
import { dashboardCommand } from './dashboard';
import { consumeCommand } from './consume';
import { groupsCommand } from './groups';

/** Every subcommand, in the pipeline's start-up order. Each file only defines options. */
export function registerCommands(program: Command): void {
  for (const command of [
    topicsCommand(),
    produceCommand(),
    simulateCommand(),
    processCommand(),
    sinkCommand(),
    statusCommand(),
    demoCommand(),
    dashboardCommand(),
    consumeCommand(),
    groupsCommand(),
  ]) {
    program.addCommand(command);
  }
}
