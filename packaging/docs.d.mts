// Types of packaging/docs.mjs, for test/unit/packaging-docs.test.ts.
import type { Command } from 'commander';

export interface DocSources {
  program: Command;
  KEYMAP: ReadonlyArray<{ screen: string; title: string; bindings: ReadonlyArray<{ command: string; keys: readonly string[]; description: string }> }>;
  /** The key map's own wording of a binding (with where it holds), when it has one. */
  describeBinding?: (binding: { command: string; keys: readonly string[]; description: string; when?: readonly string[] }) => string;
  ExitCode: Readonly<Record<string, number>>;
  env: {
    ROOT_ENV: string;
    QEMU_ENV_VAR: string;
    QEMU_DEFAULT_PATH: string;
    GUEST_DIR_ENV: string;
    LOCK_DIR_NAME: string;
    PENDING_DIR: string;
    BACKUP_SUFFIX: string;
    /** Ganeti's RAPI: the environment variables, the config file, the certificate (src/ganeti/settings.ts). */
    RAPI_ENV: { url: string; socket: string; user: string; password: string; cert: string; config: string; node: string };
    RAPI_CONFIG_FILE: string;
    RAPI_CERT_FILE: string;
  };
  types: Readonly<Record<string, readonly string[]>>;
}

export function loadSources(): Promise<DocSources>;
export function roff(text: string): string;
export function manPage(sources: DocSources, options: { version: string; date: string }): string;
export function bashCompletion(sources: DocSources): string;
