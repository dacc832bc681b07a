/**
 * Facts about host paths that planners need (gathered before planning, so planners stay pure).
 */
import { stat } from 'node:fs/promises';

export type HostPathType = 'block' | 'char' | 'file' | 'directory' | 'other' | 'missing';

export interface HostPathInfo {
  path: string;
  type: HostPathType;
  /** Size in bytes for regular files; undefined for devices (QEMU knows). */
  sizeBytes?: number;
  error?: string;
}

export async function inspectHostPath(path: string): Promise<HostPathInfo> {
  try {
    const st = await stat(path);
    const type: HostPathType = st.isBlockDevice()
      ? 'block'
      : st.isCharacterDevice()
        ? 'char'
        : st.isFile()
          ? 'file'
          : st.isDirectory()
            ? 'directory'
            : 'other';
    return type === 'file' ? { path, type, sizeBytes: st.size } : { path, type };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { path, type: 'missing', error: code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(error)})` };
  }
}
