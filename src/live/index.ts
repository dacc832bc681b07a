/** The live-QEMU layer: probe what QEMU has, overlay it on the bus model, report drift. */
export {
  probeLive,
  parseLiveReplies,
  deviceIdOfQdev,
  LiveProbeError,
  SCSI_DEVICE_TYPES,
} from './probe.js';
export type {
  QmpExecutor,
  ProbeOptions,
  LiveState,
  LivePciFunction,
  LivePeripheral,
  LiveScsiDevice,
  LiveBlock,
  LiveController,
  LiveReplies,
} from './probe.js';
export { overlayLive } from './overlay.js';
export { computeDrift, formatAddress, kvmCmdDevices } from './drift.js';
export type { Drift, DriftItem, DriftCode, DriftSide, DeviceAddress } from './drift.js';
export {
  readPending,
  recordPendingUnplug,
  clearPendingUnplug,
  prunePending,
  splitPending,
  parsePendingText,
  pendingFilePath,
  PENDING_DIR,
} from './pending.js';
export type { PendingUnplug } from './pending.js';
export { detectBackendStyle, backendOf } from './backend.js';
export type { DetectedBackendStyle, LiveBackend } from './backend.js';
export { qomTypeOf, sameDriver, roleOf, GANETI_ID } from './drivers.js';
