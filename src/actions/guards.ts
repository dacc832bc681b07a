import { RefusedError } from '../errors.js';
import type { RuntimeFile } from '../runtime/types.js';

/**
 * QEMU opens hot-added paths itself. An instance that runs chrooted or as another user cannot open
 * a path we pass (Ganeti passes file descriptors instead, which Node cannot send: no SCM_RIGHTS).
 */
export function refuseIfQemuCannotOpenPaths(rf: RuntimeFile): void {
  const h = rf.hvparams;
  if (h.use_chroot) {
    throw new RefusedError(
      `${rf.instance} runs chrooted (use_chroot=true): QEMU cannot open a host path; hot-add needs file-descriptor passing, which plugboard does not do yet`,
    );
  }
  if (h.security_model === 'user' || h.security_model === 'pool') {
    throw new RefusedError(
      `${rf.instance} runs as another user (security_model=${h.security_model}${h.security_domain ? `, ${h.security_domain}` : ''}): QEMU may not be able to open the path; hot-add needs file-descriptor passing, which plugboard does not do yet`,
    );
  }
}
