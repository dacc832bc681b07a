/**
 * A hostile QMP peer for the terminal-safety tests: the mini QEMU of lib.ts behind the fake QMP
 * server (a real Unix socket), answering with device ids, driver names, file names and error texts
 * that hold terminal control sequences: the window title (OSC 0), the clipboard (OSC 52), screen
 * clearing (CSI 2J, also as the 8-bit CSI 0x9b), cursor moves, CR/backspace/DEL, bidi overrides and
 * isolates. Real QEMU cannot be made to say these; a QEMU a guest took over can.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSandboxInstance } from '../../src/demo/sandbox.js';
import { loadRuntimeFile } from '../../src/runtime/load.js';
import { pidFilePath, qmpSocketPath } from '../../src/runtime/root.js';
import { FakeQmpServer, type FakeCommand, type FakeQmpConnection } from '../helpers/fake-qmp.js';
import { MiniQemu } from './lib.js';

/** Sets the terminal's (and tmux's pane) title. */
export const SET_TITLE = '\u001b]0;PB-PWNED-TITLE\u0007';
/** Writes "pwned" into the clipboard (tmux: a paste buffer, with set-clipboard on). */
export const SET_CLIPBOARD = '\u001b]52;c;cGItcHduZWQ=\u0007';
/** Clears the screen and homes the cursor, 7-bit and 8-bit CSI. */
export const CLEAR_SCREEN = '\u001b[2J\u001b[H\u009b2J';
/** Overwrites what was printed. */
export const OVERWRITE = '\r\b\u007f';
/** Reorders what follows (Trojan Source). */
export const BIDI = '\u202e\u2066';

/** The id of a device QEMU has that the runtime file does not list. */
export const EVIL_ID = `evil${SET_TITLE}${CLEAR_SCREEN}${BIDI}x`;
export const EVIL_DRIVER = `virtio-blk-pci${SET_CLIPBOARD}`;
export const EVIL_FILE = `/var/lib/x${OVERWRITE}${SET_TITLE}.img`;
/** The text of QEMU's error when a device_add is refused. */
export const EVIL_ERROR = `Property 'drive' ${SET_TITLE}${SET_CLIPBOARD}${CLEAR_SCREEN}${BIDI} not found`;

/** Every character that must never reach a terminal raw (what the view escapes), as a test sees it. */
export const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/u;

export interface HostilePeer {
  root: string;
  name: string;
  /** The Ganeti disk of the instance (an honest one). */
  diskId: string;
  qemu: MiniQemu;
  fake: FakeQmpServer;
  runtimeFile: string;
  /** A host file whose name holds control sequences, for hot-adding (it must reach QEMU and the file exactly). */
  evilImage: string;
  stop(): Promise<void>;
}

/**
 * A root with one instance `fk1` (a paravirtual disk, a NIC on a bridge whose name holds control
 * sequences) whose ctrl/fk1.qmp is the hostile peer: besides the instance's own disk, QEMU reports
 * EVIL_ID (driver EVIL_DRIVER, file EVIL_FILE) at slot 0x10, and it refuses every device_add with
 * EVIL_ERROR when `refuseDeviceAdd`.
 */
export async function startHostilePeer(opts: { refuseDeviceAdd?: boolean; prefix?: string } = {}): Promise<HostilePeer> {
  const root = mkdtempSync(join(tmpdir(), opts.prefix ?? 'pb-term-'));
  const inst = await createSandboxInstance(root, { name: 'fk1', diskType: 'paravirtual', disks: 1, nics: 1, extraKvmCmd: ['-nodefaults'] }, '/usr/bin/kvm');
  // A runtime file's words from outside: the NIC's bridge.
  const doc = JSON.parse(readFileSync(inst.runtimeFile, 'utf8')) as [unknown[], { nicparams: { link: string } }[], ...unknown[]];
  doc[1][0]!.nicparams.link = `br${SET_TITLE}`;
  writeFileSync(inst.runtimeFile, JSON.stringify(doc));
  const rf = await loadRuntimeFile(inst.runtimeFile);
  const diskId = (rf.disks[0]!.hvinfo as { id: string }).id;
  const qemu = new MiniQemu({
    [diskId]: { driver: 'virtio-blk-pci', slot: 0xc, drive: { id: diskId, file: rf.disks[0]!.link } },
    [EVIL_ID]: { driver: EVIL_DRIVER, slot: 0x10, drive: { id: 'evil-drive', file: EVIL_FILE } },
  });
  const handler = (cmd: FakeCommand, conn: FakeQmpConnection): void => {
    if (opts.refuseDeviceAdd && cmd.execute === 'device_add') return conn.replyError(cmd, 'GenericError', EVIL_ERROR);
    qemu.handler(cmd, conn);
  };
  mkdirSync(join(root, 'ctrl'), { recursive: true });
  const fake = await FakeQmpServer.start({ handler, socketPath: qmpSocketPath(root, 'fk1') });
  // The view counts an instance as running when its pid file names a live process with `-name fk1`.
  const holder = spawn('/bin/sh', ['-c', 'sleep 600; true', 'sh', '-name', 'fk1'], { stdio: 'ignore', detached: true });
  holder.unref();
  mkdirSync(join(root, 'pid'), { recursive: true });
  writeFileSync(pidFilePath(root, 'fk1'), `${holder.pid}\n`);
  const evilImage = join(root, 'disks', `new${SET_TITLE}${BIDI}.img`);
  writeFileSync(evilImage, Buffer.alloc(1 << 20));
  return {
    root,
    name: 'fk1',
    diskId,
    qemu,
    fake,
    runtimeFile: inst.runtimeFile,
    evilImage,
    stop: async () => {
      try {
        process.kill(-holder.pid!, 'SIGKILL');
      } catch {
        // gone
      }
      await fake.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
