import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, type Config, loadConfig, unknownVariableWarnings } from '../config/config';

/** What a command was given on its command line, typed by its option declarations (node:util parseArgs). */
export type CommandLine<T extends ParseArgsConfig> = ReturnType<typeof parseArgs<T>>;

/** Exit status for a usage mistake (as getopt-style tools do), distinct from a failure while running (1). */
export const USAGE_ERROR = 2;

/**
 * Parses a command's arguments strictly, before the command does anything else (benchmarks call this at the top
 * of the module, before any constant is derived from an argument):
 * - `--help` / `-h` anywhere prints the usage on stdout and exits 0, so asking for help never runs anything;
 * - an unknown option, a missing option value or an unexpected positional prints one line naming it and the
 *   usage on stderr, and exits 2 (no stack trace).
 */
export function parseCommandLine<T extends ParseArgsConfig>(
  usage: string,
  config: T,
  argv: string[] = process.argv.slice(2),
): CommandLine<T> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage);
    process.exit(0);
  }
  try {
    return parseArgs<T>({ ...config, args: argv, strict: true });
  } catch (err) {
    return usageError(usage, err instanceof Error ? err.message : String(err));
  }
}

/** Prints `message` and the usage on stderr and exits 2. */
export function usageError(usage: string, message: string): never {
  console.error(`error: ${message.replace(/\. To specify a positional argument.*$/s, '')}\n\n${usage}`);
  process.exit(USAGE_ERROR);
}

/** A whole number of at least `min` from an option's text, or the usage error naming the option. */
export function integerOption(
  usage: string,
  name: string,
  raw: string | undefined,
  fallback: number,
  min = 1,
) {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    usageError(usage, `--${name} ${raw}: expected a whole number >= ${min}`);
  return n;
}

/**
 * The configuration for a command-line tool: a bad variable prints each problem and exits 2, and variables that
 * look like misspellings of ours are reported on stderr (a tool has no log to put them in).
 */
export function loadCommandConfig(env: NodeJS.ProcessEnv = process.env): Config {
  for (const warning of unknownVariableWarnings(env)) console.error(`warning: ${warning}`);
  try {
    return loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(USAGE_ERROR);
  }
}

/** Runs a command's main function: a failure prints `error: <message>` (no stack trace) and exits 1. */
export function runCommand(main: () => Promise<void> | void): void {
  Promise.resolve()
    .then(main)
    .catch((err: unknown) => {
      console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    });
}
