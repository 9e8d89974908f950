#!/usr/bin/env node
/** kpsuite: the KeyPackage relay suite's one command. */
import { Command } from 'commander';
import { checkCommand } from './check-command.js';
import { loadCommand } from './load-command.js';
import { propsCommand } from './props-command.js';
import { relayCommand } from './relay-command.js';
import { reportCommand } from './report-command.js';
import { VERSION } from '../package-info.js';

const program = new Command('kpsuite')
  .description('Conformance, property and load suites for Nostr relays that broker MLS KeyPackages (PROFILE.md)')
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)');

program.addCommand(checkCommand());
program.addCommand(propsCommand());
program.addCommand(loadCommand());
program.addCommand(relayCommand());
program.addCommand(reportCommand());

// Usage errors exit 2 (the suites' contract: 1 means a rule failed); --help and --version exit 0.
for (const command of [program, ...program.commands]) {
  command.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Errors that are the user's to fix (a port in use, an unwritable database path) get one line, not a stack.
  process.stderr.write(`kpsuite: ${(err as Error).message}\n`);
  process.exit(2);
}
