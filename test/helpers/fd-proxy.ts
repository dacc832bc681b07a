/**
 * A QMP proxy that forwards file descriptors (SCM_RIGHTS) both ways and hangs up at a chosen
 * moment: the QMP peer disconnecting between two commands, which a real QEMU does not do on its
 * own. A small Python process (Node cannot receive or send descriptors): it listens on `path`,
 * takes one client at a time, connects to QEMU's socket for it, forwards bytes and descriptors;
 * on the FIRST connection, after it has forwarded QEMU's answer to the first command containing
 * `hangUpAfter`, it closes both ends. Later connections (the undo's) are forwarded plainly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { waitFor } from './wait.js';

const SCRIPT = String.raw`
import socket, select, sys, array, os
listen_path, qemu_path, trigger = sys.argv[1], sys.argv[2], sys.argv[3].encode()
srv = socket.socket(socket.AF_UNIX)
srv.bind(listen_path)
srv.listen(4)
print('listening', flush=True)
def relay(src, dst):
    data, anc, flags, _ = src.recvmsg(65536, socket.CMSG_SPACE(64 * 4))
    fds = array.array('i')
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    if data:
        if fds:
            dst.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        else:
            dst.sendall(data)
    for fd in fds:
        os.close(fd)
    return data
def serve(cli, hang_up):
    up = socket.socket(socket.AF_UNIX)
    try:
        up.connect(qemu_path)
        pump(cli, up, hang_up)
    except OSError as e:
        # A client that closes with bytes unread resets the connection (ECONNRESET, EPIPE): that
        # client is done; the proxy must still serve the next one (the undo's).
        print('client error', e, flush=True)
    cli.close()
    up.close()
def pump(cli, up, hang_up):
    armed = False
    while True:
        r, _, _ = select.select([cli, up], [], [], 60)
        if not r:
            break
        if cli in r:
            data = relay(cli, up)
            if not data:
                break
            if hang_up and trigger in data:
                armed = True
        if up in r:
            data = relay(up, cli)
            if not data:
                break
            if armed and (b'"return"' in data or b'"error"' in data):
                print('hung up', flush=True)
                break
# The first client is hung up on after QEMU's answer to the trigger; later ones (a new connection
# for the undo) are served plainly, one at a time, as QEMU serves them.
first = True
while True:
    cli, _ = srv.accept()
    serve(cli, first)
    first = False
`;

export interface FdProxy {
  path: string;
  /** Resolves when the proxy hung up (or exited). */
  hungUp: Promise<void>;
  stop(): Promise<void>;
}

export async function startFdProxy(path: string, qemuSocket: string, hangUpAfter: string): Promise<FdProxy> {
  const child: ChildProcess = spawn('/usr/bin/python3', ['-I', '-c', SCRIPT, path, qemuSocket, hangUpAfter], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (c: string) => (out += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Only the line printed after listen(2): the socket file exists from bind(2) on, and a connect
  // between the two is refused (seen in CI: "nothing listens on …: QEMU is gone").
  await waitFor(() => out.includes('listening'), { timeoutMs: 10_000, what: 'the descriptor proxy to listen' });
  return {
    path,
    hungUp: Promise.race([exited, waitFor(() => out.includes('hung up'), { timeoutMs: 60_000, what: 'the proxy to hang up' }).then(() => undefined)]),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
