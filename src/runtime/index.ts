/** The runtime-file layer: reading, checking, editing and writing Ganeti KVM runtime files. */

export * from './types.js';
export {
  DISK_TYPES,
  NIC_TYPES,
  SCSI_CONTROLLER_TYPES,
  SCSI_DISK_TYPES,
  HOTPLUGGABLE_DISK_TYPES,
  HOTPLUGGABLE_NIC_TYPES,
  HVPARAM_DEFAULTS,
  PCI_SLOTS,
  diskDriver,
  nicDriver,
  isScsiDiskType,
  isHotpluggableDiskType,
  isHotpluggableNicType,
  readKnownHvparams,
  type DiskType,
  type NicType,
  type ScsiControllerType,
} from './hvparams.js';
export {
  deviceId,
  legacyDeviceId,
  checkQemuId,
  checkNodeName,
  isUuid,
  newUuid,
  MAX_DEVICE_ID_LENGTH,
  MAX_NODE_NAME_LENGTH,
} from './ids.js';
export { describeValue, formatPath, plugboardErrorMap, zodIssuesToInputIssues, type PathSegment } from './issues.js';
export { checkHvinfo } from './schema.js';
export {
  parseRuntimeText,
  loadRuntimeFile,
  readRuntimeText,
  runtimeFileFromDocument,
  instanceNameOf,
  MAX_RUNTIME_FILE_BYTES,
  MAX_RUNTIME_JSON_VALUES,
  type DocumentMeta,
} from './load.js';
export { serializeRuntime } from './serialize.js';
export { dumpJson, parseJson, pyFloatRepr, cloneJson, JsonSyntaxError } from './json.js';
export { withDisk, withoutDisk, withNic, withoutNic, type DiskEntry } from './edit.js';
export { writeRuntimeFileAtomic, saveRuntimeFile, NEW_RUNTIME_FILE_MODE, type WriteOptions } from './write.js';
export {
  DEFAULT_ROOT,
  ROOT_ENV,
  resolveRoot,
  validateInstanceName,
  instanceNameProblem,
  runtimeFilePath,
  qmpSocketPath,
  monitorSocketPath,
  pidFilePath,
  nicDirPath,
  nicFilePath,
  instancePaths,
  listInstances,
  instancePid,
  instanceStatus,
  checkRootTree,
  rootTreeProblem,
  directoryProblem,
  pathUnderRoot,
  type RootCheck,
  type InstancePaths,
  type InstanceStatus,
} from './root.js';
export {
  withInstanceLock,
  acquireInstanceLock,
  lockFilePath,
  breakFilePath,
  lockDirPath,
  isHolderAlive,
  LOCK_DIR_NAME,
  type LockOptions,
  type LockHolder,
  type InstanceLock,
} from './lock.js';
