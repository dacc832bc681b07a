/**
 * The descriptor helper's Python source, run as `/usr/bin/python3 -I -S -c FD_HELPER_SOURCE` by
 * FdHelper (./helper.ts). It is a string so that it travels inside the JS bundle and a
 * single-executable build: nothing to install, no compiler. Node's `net` cannot send SCM_RIGHTS;
 * Python's `socket.sendmsg` can, and every Ganeti node has Python 3.
 *
 * Kept small and dependency-free: `-S` skips `site` (~4 ms of its ~8–12 ms start here), and it
 * imports only C modules (`_socket`, `fcntl`, `select`, `struct`; `pwd` on demand).
 */
export const FD_HELPER_SOURCE = String.raw`# plugboard's descriptor helper: opens disks and creates taps as root, and writes the QMP command
# that carries each descriptor (SCM_RIGHTS) on the QMP connection plugboard's Node process holds.
#
# Run as '/usr/bin/python3 -I -S -c SOURCE': this source is a string in the JS bundle (no file to
# install). Standard library only, Python 3.5+ (every Ganeti node has Python 3: Ganeti is written
# in it).
#
# fd 3 is the connected QMP socket, shared by Node (child_process stdio). The helper only ever
# WRITES on it, and only when told to: Node reads every reply. Requests come on stdin, one a line,
# answers go to stdout, one a line:
#   <seq> <op> <args…>          args are hex (bytes) or decimal
#   <seq> ok <fields…>  |  <seq> err <CODE> <hex detail>
# ops:
#   disk H PATH DIRECT KIND DEV INO   open PATH (resolved by plugboard) read-write [O_DIRECT]; it must
#                                     be of KIND (block/file/char) and, when DEV INO are not 0, the
#                                     very file plugboard checked; kept as handle H.
#                                     -> ok KIND SIZE
#   tap H NAME VNETHDR QUEUES VHOST   create tap NAME (TUNSETIFF; IFF_TUN_EXCL: never an existing
#                                     interface), QUEUES descriptors, plus one /dev/vhost-net each
#                                     when VHOST; handles H.tap.I and H.vhost.I.
#                                     -> ok NAME VNETHDR
#   send H LINE                       write LINE (one QMP command) with handle H's descriptor
#                                     attached, then close the helper's copy. -> ok
#   drop H                            close handle H, or every handle starting with H. (no send) -> ok N
#   user NAME / uid N                 the passwd entry. -> ok UID GID / ok NAME
#   ping                              -> ok PID
# End of stdin: every descriptor still held is closed and the helper exits (also when plugboard
# dies: its end of the pipe closes).
import os
import stat
import struct
import fcntl
import select
from _socket import socket as _socket, SOL_SOCKET, SCM_RIGHTS

QMP_FD = 3
SEND_TIMEOUT = 5.0
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_ONE_QUEUE = 0x2000
IFF_VNET_HDR = 0x4000
IFF_MULTI_QUEUE = 0x0100
IFF_TUN_EXCL = 0x8000
TUNSETIFF = 0x400454ca
TUNGETFEATURES = 0x800454cf

held = {}
qmp = None


class Refused(Exception):
    def __init__(self, code, detail):
        Exception.__init__(self, detail)
        self.code = code
        self.detail = detail


def unhex(s):
    return bytes.fromhex(s)


KINDS = ((stat.S_ISBLK, 'block'), (stat.S_ISREG, 'file'), (stat.S_ISCHR, 'char'), (stat.S_ISDIR, 'directory'),
         (stat.S_ISLNK, 'symlink'), (stat.S_ISFIFO, 'fifo'), (stat.S_ISSOCK, 'socket'))


def kind_of(mode):
    for test, name in KINDS:
        if test(mode):
            return name
    return 'other'


def errno_name(err):
    import errno
    return errno.errorcode.get(err.errno, 'E%d' % (err.errno or 0))


def op_disk(handle, path, direct, kind, dev, ino):
    path = unhex(path)
    want_dev = int(dev)
    want_ino = int(ino)
    # Type first, without opening: opening some character devices has effects of its own.
    try:
        st = os.lstat(path)
    except OSError as err:
        raise Refused(errno_name(err), 'lstat: ' + err.strerror)
    if kind_of(st.st_mode) != kind:
        raise Refused('KIND', kind_of(st.st_mode))
    flags = os.O_RDWR | os.O_CLOEXEC | os.O_NOCTTY | os.O_NOFOLLOW
    if direct == '1':
        flags |= os.O_DIRECT
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise Refused(errno_name(err), 'open: ' + err.strerror)
    try:
        st = os.fstat(fd)
        got = kind_of(st.st_mode)
        if got != kind:
            raise Refused('KIND', got)
        if want_dev or want_ino:
            if st.st_dev != want_dev or st.st_ino != want_ino:
                raise Refused('CHANGED', '%d:%d' % (st.st_dev, st.st_ino))
        size = st.st_size
        if got == 'block':
            size = os.lseek(fd, 0, os.SEEK_END)
            os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    drop(handle)
    held[handle] = fd
    return [got, str(size)]


def op_tap(handle, name, vnet_hdr, queues, vhost):
    name = unhex(name)
    queues = int(queues)
    if len(name) == 0 or len(name) > 15:
        raise Refused('NAME', 'a tap name has 1 to 15 bytes')
    opened = []
    applied = '0'
    try:
        for i in range(queues):
            try:
                fd = os.open('/dev/net/tun', os.O_RDWR | os.O_CLOEXEC)
            except OSError as err:
                raise Refused(errno_name(err), 'open /dev/net/tun: ' + err.strerror)
            opened.append(('%s.tap.%d' % (handle, i), fd))
            features = struct.unpack('I', fcntl.ioctl(fd, TUNGETFEATURES, struct.pack('I', 0)))[0]
            flags = IFF_TAP | IFF_NO_PI
            if vnet_hdr == '1' and features & IFF_VNET_HDR:
                flags |= IFF_VNET_HDR
                applied = '1'
            if queues > 1:
                if not features & IFF_MULTI_QUEUE:
                    raise Refused('NOMQ', 'the kernel has no multiqueue taps (IFF_MULTI_QUEUE)')
                flags |= IFF_MULTI_QUEUE
            else:
                flags |= IFF_ONE_QUEUE
            if i == 0:
                # A fresh interface or nothing: never attach to someone else's (persistent) tap.
                flags |= IFF_TUN_EXCL
            try:
                fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH22x', name, flags))
            except OSError as err:
                raise Refused(errno_name(err), 'TUNSETIFF: ' + err.strerror)
            if vhost == '1':
                try:
                    vfd = os.open('/dev/vhost-net', os.O_RDWR | os.O_CLOEXEC)
                except OSError as err:
                    raise Refused(errno_name(err), 'open /dev/vhost-net: ' + err.strerror)
                opened.append(('%s.vhost.%d' % (handle, i), vfd))
    except BaseException:
        for _, fd in opened:
            os.close(fd)
        raise
    drop(handle)
    for h, fd in opened:
        held[h] = fd
    return [name.hex(), applied]


def op_send(handle, line):
    fd = held.get(handle)
    if fd is None:
        raise Refused('NOHANDLE', handle)
    data = unhex(line)
    global qmp
    if qmp is None:
        qmp = _socket(fileno=QMP_FD)
    # The socket is Node's and non-blocking (a flag of the shared open file): wait, never change it.
    sent = 0
    first = True
    while sent < len(data):
        if not select.select([], [QMP_FD], [], SEND_TIMEOUT)[1]:
            raise Refused('PARTIAL' if sent else 'TIMEOUT', 'QEMU read nothing for %ds' % SEND_TIMEOUT)
        try:
            if first:
                n = qmp.sendmsg([data], [(SOL_SOCKET, SCM_RIGHTS, struct.pack('i', fd))])
            else:
                n = qmp.send(data[sent:])
        except BlockingIOError:
            continue
        except OSError as err:
            raise Refused('PARTIAL' if sent else errno_name(err), 'sendmsg: ' + err.strerror)
        first = False
        sent += n
    del held[handle]
    os.close(fd)
    return []


def drop(prefix):
    n = 0
    for h in list(held):
        if h == prefix or h.startswith(prefix + '.'):
            os.close(held.pop(h))
            n += 1
    return n


def op_user(name):
    import pwd
    try:
        pw = pwd.getpwnam(unhex(name).decode('utf-8', 'surrogateescape'))
    except KeyError:
        raise Refused('NOUSER', 'no passwd entry')
    return [str(pw.pw_uid), str(pw.pw_gid)]


def op_uid(uid):
    import pwd
    try:
        pw = pwd.getpwuid(int(uid))
    except KeyError:
        raise Refused('NOUSER', 'no passwd entry')
    return [pw.pw_name.encode('utf-8', 'surrogateescape').hex()]


OPS = {
    'disk': op_disk,
    'tap': op_tap,
    'send': op_send,
    'drop': lambda h: [str(drop(h))],
    'user': op_user,
    'uid': op_uid,
    'ping': lambda: [str(os.getpid())],
}


def answer(seq, words):
    out = (seq + ' ' + ' '.join(words) + '\n').encode('ascii')
    while out:
        out = out[os.write(1, out):]


def main():
    buf = b''
    while True:
        chunk = os.read(0, 65536)
        if not chunk:
            break
        buf += chunk
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            words = line.decode('ascii', 'replace').split()
            if len(words) < 2:
                continue
            seq, op, args = words[0], words[1], words[2:]
            try:
                fn = OPS.get(op)
                if fn is None:
                    raise Refused('NOOP', op)
                answer(seq, ['ok'] + fn(*args))
            except Refused as r:
                answer(seq, ['err', r.code, r.detail.encode('utf-8', 'replace').hex()])
            except Exception as e:
                answer(seq, ['err', 'INTERNAL', ('%s: %s' % (type(e).__name__, e)).encode('utf-8', 'replace').hex()])
    for h in list(held):
        os.close(held.pop(h))
    # Nothing to flush or finalize: skip the interpreter's teardown (the QMP socket is free sooner).
    os._exit(0)


main()
`;
