/**
 * The test guest (test/helpers/guest.ts) with a shell on its console and the SCSI disk drivers, so
 * a test can ask the guest what it sees (`cat /sys/block/sda/size`, `/sys/class/net/*`).
 *
 * Built from the cached guest without touching it: an overlay cpio archive (newc, gzip) appended to
 * `.cache/guest/initramfs.cpio.gz` — the kernel unpacks concatenated archives in order, so the
 * overlay's `/init` replaces the guest's — holding a new `/init` and scsi_common, scsi_mod, sd_mod
 * and virtio_scsi from the same kernel package (prepare.sh keeps it in `.cache/debs`). The result
 * is cached in `.cache/guest-shell/`, keyed by the guest's stamp. The cloud kernel has no driver
 * for lsi (sym53c8xx): lsi disks are checked on QEMU's side only.
 *
 * The shell: after the ready marker, /init reads command lines from the console and answers
 *   @@B <n>            then the command's output, then
 *   @@E <n> <status>
 * (`GuestShell.run`). Input echo is off.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { GUEST_DIR, GuestSerial, guestAssets, type GuestAssets } from './guest.js';

const SCSI_MODULES = ['scsi_common', 'scsi_mod', 'sd_mod', 'virtio_scsi'];

const INIT = `#!/bin/busybox sh
# plugboard's test guest with a console shell (test/helpers/guest-shell.ts).
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
loaded=""
for m in $(cat /modules/order) $(cat /modules/shell/order); do
  f=/modules/$m.ko; [ -f "$f" ] || f=/modules/shell/$m.ko
  if insmod "$f"; then loaded="$loaded $m"; else echo "plugboard-guest: insmod $m failed"; fi
done
echo "plugboard-guest: modules:$loaded"
stty -echo 2>/dev/null
echo "PLUGBOARD-GUEST-READY"
pb_n=0
while read -r pb_line; do
  pb_n=$((pb_n+1))
  echo "@@B $pb_n"
  eval "$pb_line"
  echo "@@E $pb_n $?"
done
while :; do sleep 3600; done
`;

const repoCache = path.resolve(GUEST_DIR, '..');

/** newc cpio entries (+ trailer) for the overlay. */
function cpio(entries: { name: string; mode: number; data?: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const add = (name: string, mode: number, data: Buffer) => {
    const fields = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, Buffer.byteLength(name) + 1, 0];
    const header = `070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`;
    const head = Buffer.concat([Buffer.from(header, 'ascii'), Buffer.from(`${name}\0`, 'utf8')]);
    parts.push(head, pad(head.length), data, pad(data.length));
  };
  for (const e of entries) add(e.name, e.mode, e.data ?? Buffer.alloc(0));
  add('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}

/** The kernel package the guest was built from, as `.cache/guest/.stamp` names it. */
function kernelDeb(): string {
  const stamp = readFileSync(path.join(GUEST_DIR, '.stamp'), 'utf8');
  const m = /^(linux-image-[^=]+)=(.+)$/m.exec(stamp);
  if (!m) throw new Error(`${GUEST_DIR}/.stamp names no kernel package: run test/setup/prepare.sh`);
  const debs = path.join(repoCache, 'debs');
  const want = `${m[1]}_${m[2]!.replace(/:/g, '%3a')}_`;
  const deb = existsSync(debs) ? readdirSync(debs).find((f) => f.startsWith(want) && f.endsWith('.deb')) : undefined;
  if (!deb) throw new Error(`the guest's kernel package ${m[1]} ${m[2]} is not in ${debs}: run test/setup/prepare.sh (PLUGBOARD_REFRESH=1 rebuilds the guest)`);
  return path.join(debs, deb);
}

/** The guest with the console shell: kernel and the combined initramfs (built on first use). */
export function shellGuestAssets(): GuestAssets {
  const base = guestAssets();
  if (!base) throw new Error('the test guest is not built: run test/setup/prepare.sh');
  const stamp = readFileSync(path.join(GUEST_DIR, '.stamp'), 'utf8');
  const key = createHash('sha256').update(stamp).update(INIT).update(SCSI_MODULES.join(',')).digest('hex').slice(0, 16);
  const dir = path.join(repoCache, 'guest-shell');
  const initrd = path.join(dir, `initramfs-${key}.cpio.gz`);
  if (existsSync(initrd)) return { kernel: base.kernel, initrd };

  mkdirSync(dir, { recursive: true });
  const tmp = mkdtempSync(path.join(dir, '.build-'));
  try {
    const deb = kernelDeb();
    const x = spawnSync('sh', ['-c', `dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards ${SCSI_MODULES.map((m) => `'*/${m}.ko'`).join(' ')}`, 'sh', deb, tmp], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (x.status !== 0) throw new Error(`extracting the SCSI modules from ${deb}: ${x.stderr.trim()}`);
    const find = (m: string): Buffer => {
      const walk = (d: string): string | undefined => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          const p = path.join(d, e.name);
          if (e.isDirectory()) {
            const r = walk(p);
            if (r) return r;
          } else if (e.name === `${m}.ko`) return p;
        }
        return undefined;
      };
      const p = walk(tmp);
      if (!p) throw new Error(`${deb} has no ${m}.ko`);
      return readFileSync(p);
    };
    const overlay = cpio([
      { name: 'modules/shell', mode: 0o040755 },
      ...SCSI_MODULES.map((m) => ({ name: `modules/shell/${m}.ko`, mode: 0o100644, data: find(m) })),
      { name: 'modules/shell/order', mode: 0o100644, data: Buffer.from(`${SCSI_MODULES.join('\n')}\n`) },
      { name: 'init', mode: 0o100755, data: Buffer.from(INIT) },
    ]);
    const combined = Buffer.concat([readFileSync(base.initrd), gzipSync(overlay)]);
    const out = path.join(tmp, 'initrd');
    writeFileSync(out, combined);
    renameSync(out, initrd);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return { kernel: base.kernel, initrd };
}

/** Commands on the guest's console (see the file comment). */
export class GuestShell {
  private n = 0;
  constructor(private readonly serial: GuestSerial) {}

  /** Runs `command` in the guest's shell; resolves with its output (trimmed) and exit status. */
  async run(command: string, timeoutMs = 10_000): Promise<{ out: string; status: number }> {
    if (command.includes('\n')) throw new Error('one line per command');
    const n = ++this.n;
    const start = this.serial.output.length;
    this.serial.write(`${command}\n`);
    const end = new RegExp(`@@E ${n} (\\d+)`);
    await this.serial.until(() => end.test(this.serial.output.slice(start)), `the guest's answer to ${command}`, timeoutMs);
    const text = this.serial.output.slice(start).replace(/\r/g, '');
    const body = text.slice(text.indexOf(`@@B ${n}\n`) + `@@B ${n}\n`.length, text.search(end));
    return { out: body.trim(), status: Number(end.exec(text)![1]) };
  }

  /** Polls `command` until `accept(output)`, with a deadline. */
  async waitFor(command: string, accept: (out: string, status: number) => boolean, what: string, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last: string;
    for (;;) {
      const r = await this.run(command);
      last = `${r.out} (status ${r.status})`;
      if (accept(r.out, r.status)) return r.out;
      if (Date.now() > deadline) throw new Error(`the guest: ${what}: not within ${timeoutMs} ms (last: ${last})`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
