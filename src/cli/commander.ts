/**
 * commander, loaded with `require`: it is a CommonJS package, and importing it as an ES module costs
 * twice as much (~25 ms vs ~12 ms on the 2-core node, measured) because Node first scans its
 * source for exports; every CLI run pays this before doing anything. Import commander's values from
 * here; its types from 'commander' (`import type`).
 */
import { createRequire } from 'node:module';
import type * as Commander from 'commander';

const commander = createRequire(import.meta.url)('commander') as typeof Commander;

export const Command: typeof Commander.Command = commander.Command;
export const CommanderError: typeof Commander.CommanderError = commander.CommanderError;
export const Option: typeof Commander.Option = commander.Option;
