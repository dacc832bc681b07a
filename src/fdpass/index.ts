/**
 * File-descriptor passing for QEMUs that cannot open a host path or create a tap themselves
 * (`-runas`, `-chroot`): plugboard opens them as root and hands QEMU the descriptor over the QMP
 * socket (SCM_RIGHTS), through a short-lived Python helper (Node's `net` cannot send descriptors).
 */
export { FdHelper, DEFAULT_PYTHON } from './helper.js';
export type { DiskOpenRequest, DiskOpened, FdHelperOptions, TapCreated, TapRequest } from './helper.js';
export { FdHelperError, FdInputError } from './errors.js';
export {
  FDSET_PREFIX,
  chooseFdset,
  describeFdCommand,
  diskFdSteps,
  fdPassingReason,
  fdsetOf,
  fdsetTag,
  needsDirect,
  nicFdSteps,
  nicFdnames,
  parseFdsets,
  tapCreateStep,
  unplugFdsetStep,
} from './plan.js';
export type { DiskFdInput, FdCreateTapDetail, FdHostCommand, FdOpenDiskDetail, FdPlanStep, FdQmpCommand, FdsetInfo, NicFdInput } from './plan.js';
export { checkDiskPath, checkQemuUser, diskOpenProblem, processUids, recheckDiskPath, tapCreateProblem } from './inspect.js';
export type { CheckedDiskPath } from './inspect.js';
export { fdAlreadyGone, isFdHostCommand, needsHelper, runFdStep, withFdHelper } from './run.js';
