/**
 * Actions, plans and outcomes: the one path every change takes, from the CLI and from the TUI.
 *
 *   action ──pure planner──▶ plan (exact QMP commands, runtime-file change, verification, rollback)
 *          ──executor (lock, real socket)──▶ outcome
 *
 * `--dry-run` prints the plan; the executor re-plans under the instance lock against the live state,
 * so what it runs is what the allocation is at that moment, never a stale preview.
 */
import type { RuntimeFile } from '../runtime/types.js';

export type BackendStyle = 'drive' | 'blockdev';

export type Action =
  | {
      type: 'hot-add-disk';
      instance: string;
      /** Host path of the disk: a block device or a regular file (raw). */
      path: string;
      /** disk_type to use; default: the instance's disk_type. */
      diskType?: string;
      uuid?: string;
      /** Force the backend style; default: detected from how the instance's disks were created. */
      backend?: BackendStyle;
    }
  | {
      type: 'unplug-disk';
      instance: string;
      /** UUID or device id (`disk-9e7c85f6-b6e5-4243`, legacy `hotdisk-…`). */
      device: string;
      timeoutMs: number;
    }
  | {
      type: 'hot-add-nic';
      instance: string;
      mac?: string;
      nicType?: string;
      link?: string;
      uuid?: string;
    }
  | {
      type: 'unplug-nic';
      instance: string;
      device: string;
      timeoutMs: number;
    };

export type ActionType = Action['type'];

/** One QMP command as sent (`human-monitor-command` for HMP-only commands such as `drive_add`). */
export interface QmpCommand {
  execute: string;
  arguments?: Record<string, unknown>;
}

/**
 * Host-side work that is not QMP (taps, bridges, nic/ records): NIC hotplug slots in here.
 * `host` is one of `tap-configure`, `tap-gone`, `nic-record-write`, `nic-record-remove`
 * (src/actions/host-net.ts runs them), or of file-descriptor passing: `fd-open-disk`,
 * `fd-create-tap`, `fd-drop`, `fd-check-user` (src/qmp/fdpass/plan.ts FdHostCommand, run by the
 * descriptor helper); `detail` holds their arguments (JSON).
 */
export interface HostCommand {
  host: string;
  detail: Record<string, unknown>;
}

export type StepCheck =
  /** For `human-monitor-command`: any non-empty output other than these means failure. */
  | { kind: 'hmp-empty-or'; ok: string[] }
  /** QEMU answering `DeviceNotFound` means the object is already gone: not a failure (`netdev_del` after a pending unplug). */
  | { kind: 'gone-ok' }
  | { kind: 'none' };

export interface PlanStep {
  /** What this step does, in the operator's words. */
  purpose: string;
  command: QmpCommand | HostCommand;
  check?: StepCheck;
  /** How to undo this step if a later step fails (run in reverse order of the steps done). */
  undo?: (QmpCommand | HostCommand)[];
  /**
   * A QMP command that carries a descriptor (`add-fd`, `getfd`): written by the descriptor helper
   * with the descriptor it holds as `handle` attached (SCM_RIGHTS); `what` names it for the preview.
   */
  passFd?: { handle: string; what: string };
}

export type Allocation =
  | { bus: 'pci.0'; addr: string }
  | { bus: 'scsi.0'; 'scsi-id': number; channel: 0; lun: 0 };

export type Verification =
  | { kind: 'present'; id: string; allocation: Allocation }
  | { kind: 'absent'; id: string };

/** What to do after a device_del: wait until QEMU no longer lists it or DEVICE_DELETED arrives. */
export interface UnplugWait {
  id: string;
  timeoutMs: number;
  /** PCI devices need the guest to acknowledge; SCSI devices go at once. */
  needsGuest: boolean;
}

export interface Plan {
  action: Action;
  instance: string;
  /** The device the plan adds or removes. */
  device: { id: string; uuid: string; kind: 'disk' | 'nic'; driver: string };
  allocation: Allocation | null;
  /** Slots or targets passed over, with the reason (QEMU takes it by itself, …). */
  skipped: string[];
  /** Steps before the device is in place / removal is requested. */
  steps: PlanStep[];
  /** For unplugs: the wait after `device_del`, then these cleanup steps once the device is gone. */
  unplugWait?: UnplugWait;
  after?: PlanStep[];
  verify: Verification;
  /** The runtime file as it is to be written on success. */
  runtimeAfter: RuntimeFile;
  /** One line: what changes in the runtime file. */
  runtimeChange: string;
  /** Things the operator should know (backend style guessed, …). */
  notes: string[];
  /** Set when the plan passes descriptors to QEMU instead of a path (why, in words). */
  fdPassing?: { reason: string };
}

/** One entry of PlanJson.sequence. */
export type SequenceEntry = { purpose: string } & ({ qmp: QmpCommand; passFd?: PlanStep['passFd'] } | { host: HostCommand } | { wait: UnplugWait });

/** The JSON form of a plan (`--dry-run --json`). */
export interface PlanJson {
  action: ActionType;
  instance: string;
  device: Plan['device'];
  allocation: (Allocation & { channel?: 0; lun?: 0 }) | null;
  qmp: QmpCommand[];
  host: HostCommand[];
  then?: { wait: UnplugWait; qmp: QmpCommand[]; host: HostCommand[] };
  rollback: QmpCommand[];
  /** Host steps of the rollback (NIC plans: tap gone, nic/ record removed); absent when there are none. */
  hostRollback?: HostCommand[];
  /**
   * Every step in the order it runs, with its purpose, the unplug wait included (present when the
   * plan has host steps: the `qmp` and `host` lists alone lose the interleaving).
   */
  sequence?: SequenceEntry[];
  verify: Verification;
  runtime: string;
  skipped: string[];
  notes: string[];
  /** Plans that pass descriptors: why (the `sequence` then marks the commands that carry one). */
  fdPassing?: { reason: string };
}

export type OutcomeStatus = 'done' | 'pending' | 'failed' | 'rolled-back';

export interface Outcome {
  status: OutcomeStatus;
  plan: Plan;
  message: string;
  /** Whether the runtime file was rewritten. */
  runtimeWritten: boolean;
  /** What was undone after a failure. */
  undone: string[];
  /** Problems left behind that need an operator (undo that failed…). */
  leftovers: string[];
  timings: { totalMs: number };
}
