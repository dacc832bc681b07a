#!/usr/bin/python3
"""Ganeti 3.0 compatibility harness: what Ganeti's OWN code makes of a KVM runtime file.

Run with Debian's /usr/bin/python3 and PYTHONPATH=.cache/ganeti/usr/share/ganeti/3.0 (the ganeti-3.0
package extracted by test/setup/prepare.sh, never installed). Every answer comes from Ganeti's
functions in ganeti/hypervisor/hv_kvm/__init__.py, called unmodified:

  load FILE
      _AnalyzeSerializedRuntime (incl. _UpgradeSerializedRuntime): the runtime as Ganeti loads it.
      Prints {"cmd", "nics": [NIC.ToDict()], "hvparams", "disks": [[Disk.ToDict(), link, uri]]}.

  next-slot FILE disk|nic [--uuid UUID]
      The first lines of KVMHypervisor.HotAddDevice: _GenerateDeviceKVMId, _DEVICE_TYPE on the
      runtime's own hvparams, KVMHypervisor._GetBusSlots(up_hvp, runtime) and
      _GenerateDeviceHVInfo. Prints the hvinfo Ganeti 3.0 gives a hot-added device.

  device-options FILE [--kvm PATH]
      The whole KVMHypervisor._ExecuteKVMRuntime, run for real, with only its side effects
      replaced by recorders (see HarnessKVM): nothing is started, opened, written or removed.
      Prints {"kvm", "argv", "nics", "disks"}: `argv` is the command Ganeti would exec (with
      symbolic TAPFDn/VHOSTFDn for the tap file descriptors), `nics` the NIC options it appended
      (-netdev/-device, or -net), `disks` the return value of _GenerateKVMBlockDevicesOptions
      (-device/-drive, and -boot c when booting from disk). `--kvm` is the QEMU whose `--help` and
      `-device ?` Ganeti inspects (default: the runtime's kvm_cmd[0] when it exists, else
      qemu-system-x86_64 from PATH).

  hot-add FILE disk|nic [--uuid UUID] [--mac MAC] [--link PATH] [--uri URI]
      The whole KVMHypervisor.HotAddDevice, run for real against a recording QMP connection (a
      QmpConnection whose socket I/O is replaced: Ganeti's HotAddDisk/HotAddNic/HasDevice code runs
      unchanged) and recording HMP and file writers. Prints {"hvinfo", "commands", "runtime",
      "runtime_text"}: the hvinfo, every QMP command (and fd passing, HMP command) in the order
      Ganeti sends them, and the runtime file Ganeti writes afterwards (parsed, and as written).
      The disk link is taken to exist, as on a node (so Ganeti passes it as /dev/fdset/N);
      QEMU's answers are canned, as QEMU 7.2 gives them (query-qmp-schema announces
      dynamic-auto-read-only).

Output: one line of JSON on stdout, keys sorted. Exit codes: 0 answer printed; 3 Ganeti's code
raised (stdout {"error": {"class", "message"}}: e.g. a file Ganeti cannot load, "All slots
occupied"); 2 bad usage; 1 a failure of the harness itself (traceback on stderr).
"""

import argparse
import json
import os
import shutil
import sys

try:
  from ganeti import constants, objects, serializer
  from ganeti.hypervisor import hv_kvm
  from ganeti.hypervisor.hv_kvm import monitor
except ImportError as err:  # pragma: no cover - depends on the machine
  sys.stderr.write("ganeti_runtime.py: cannot import Ganeti's hv_kvm (%s); run test/setup/prepare.sh"
                   " and set PYTHONPATH=.cache/ganeti/usr/share/ganeti/3.0\n" % err)
  sys.exit(1)

EXIT_GANETI_RAISED = 3

# A placeholder UUID for next-slot when none is given: stable output for comparisons.
DEFAULT_UUID = "00000000-1111-4222-8333-444444444444"


class GanetiRaised(Exception):
  """An exception raised inside Ganeti's code: Ganeti's verdict, not a harness failure."""

  def __init__(self, err):
    Exception.__init__(self, str(err))
    self.err = err


def ganeti(fn, *args, **kwargs):
  """Calls Ganeti's fn; whatever it raises becomes GanetiRaised."""
  try:
    return fn(*args, **kwargs)
  except Exception as err:  # pylint: disable=broad-except
    raise GanetiRaised(err)


def read_runtime(path):
  with open(path, "r", encoding="utf-8") as f:
    return f.read()


def analyze(path):
  """Ganeti's loader: (kvm_cmd, [objects.NIC], hvparams, [(objects.Disk, link, uri)])."""
  return ganeti(hv_kvm._AnalyzeSerializedRuntime, read_runtime(path))  # pylint: disable=W0212


def instance_name(kvm_cmd):
  """The instance name from `-name NAME` in the command (Ganeti 3.0 writes the bare name)."""
  for i, arg in enumerate(kvm_cmd[:-1]):
    if arg == "-name":
      return str(kvm_cmd[i + 1]).split(",")[0]
  return "instance1.example.com"


class _RecordingQmp(object):
  """Stands in for the QMP connection of a started instance (only the calls that the start makes)."""

  def __init__(self, log):
    self.log = log

  def ContinueGuestEmulation(self):  # pylint: disable=C0103
    self.log.append(["qmp", "cont"])

  def SetSpicePassword(self, _pwd):  # pylint: disable=C0103
    self.log.append(["qmp", "set_password spice"])


class _UtilsProxy(object):
  """ganeti.utils as seen by hv_kvm while the harness runs: the few calls that write to the node
  (EnsureDirs, WriteFile, RemoveFile) are recorded instead; everything else is the real module."""

  def __init__(self, real, log):
    self._real = real
    self._log = log

  def __getattr__(self, name):
    return getattr(self._real, name)

  def EnsureDirs(self, dirs):  # pylint: disable=C0103
    self._log.append(["ensure-dirs", [d for d, _ in dirs]])

  def WriteFile(self, file_name, **_kwargs):  # pylint: disable=C0103
    self._log.append(["write-file", file_name])

  def RemoveFile(self, filename):  # pylint: disable=C0103
    self._log.append(["remove-file", filename])


class HarnessKVM(hv_kvm.KVMHypervisor):
  """Ganeti's KVMHypervisor with its side effects replaced by recorders.

  The logic that builds the command line (_ExecuteKVMRuntime, _GenerateKVMBlockDevicesOptions,
  _GetNetworkDeviceFeatures, _GenerateDeviceHVInfoStr, _GetKVMOutput's parsing…) is inherited
  unchanged. Overridden, because they touch the node: __init__ (creates /var/run/ganeti dirs),
  _CheckDown (reads pid files: a running instance of that name would make it refuse),
  _ClearUserShutdown (removes a file), _StartKvmd (starts a daemon), _ConfigureNIC (runs the
  kvm-ifup script), _RunKVMCmd (starts QEMU: here it captures the argv), _ExecuteCpuAffinity,
  _InstanceStartupMemory (reads the node's free memory: here the instance's maxmem, so no
  ballooning), BalloonInstanceMemory and _CallMonitorCommand (talk to the instance). hv_kvm.OpenTap
  (opens /dev/net/tun) returns symbolic fds, and utils' writers are recorded (_UtilsProxy).
  """

  def __init__(self, kvm_path=None, runtime_text=None, qmp=None):  # pylint: disable=W0231
    # hv_base.BaseHypervisor.__init__ only sets attributes; KVMHypervisor's also creates dirs.
    self.log = []
    self.qmp = qmp if qmp is not None else _RecordingQmp(self.log)
    self.kvm_path = kvm_path
    self.runtime_text = runtime_text
    self.captured = None
    self.block_device_options = None
    self.written_runtime = None

  def _ReadKVMRuntime(self, instance_name):
    return self.runtime_text

  def _WriteKVMRuntime(self, instance_name, data):
    # serializer.Dump gives bytes.
    self.written_runtime = data.decode("utf-8") if isinstance(data, bytes) else data

  @classmethod
  def _CheckDown(cls, instance_name):
    pass

  @classmethod
  def _ClearUserShutdown(cls, instance_name):
    pass

  @staticmethod
  def _StartKvmd(hvparams):
    pass

  @staticmethod
  def _ConfigureNIC(instance, seq, nic, tap):
    pass

  def _RunKVMCmd(self, name, kvm_cmd, tap_fds=None):
    self.captured = list(kvm_cmd)

  def _ExecuteCpuAffinity(self, instance_name, cpu_mask):
    self.log.append(["cpu-affinity", cpu_mask])

  def _InstanceStartupMemory(self, instance):
    return instance.beparams[constants.BE_MAXMEM]

  def BalloonInstanceMemory(self, instance, mem):
    self.log.append(["balloon", mem])

  def _CallMonitorCommand(self, instance_name, command, timeout=None):  # pylint: disable=W0221
    # An HMP command on the .monitor socket (drive_add at disk hot-add): recorded.
    if isinstance(self.qmp, RecordingQmpConnection):
      self.qmp.commands.append({"hmp": command})
    else:
      raise AssertionError("the harness does not talk to a monitor (%s)" % command)

  def _GetKVMOutput(self, kvm_path, option):  # pylint: disable=W0221
    # Ganeti's own method, run against the QEMU of this machine.
    return hv_kvm.KVMHypervisor._GetKVMOutput(self.kvm_path or kvm_path, option)

  def _GenerateKVMBlockDevicesOptions(self, up_hvp, kvm_disks, kvmhelp, devlist):
    opts = hv_kvm.KVMHypervisor._GenerateKVMBlockDevicesOptions(self, up_hvp, kvm_disks, kvmhelp, devlist)
    self.block_device_options = list(opts)
    return opts


class _FdSocket(object):
  """The socket utils.SendFds writes to: records how many fds went over SCM_RIGHTS."""

  def __init__(self, commands):
    self.commands = commands

  def sendmsg(self, _buffers, ancdata):
    # utils.SendFds passes an array.array("i") of fds.
    count = sum(len(data) for _, _, data in ancdata)
    self.commands.append({"send-fds": count})
    return 1


class RecordingQmpConnection(monitor.QmpConnection):
  """Ganeti's QmpConnection with its socket I/O replaced: _Send records the command, _Recv answers
  as QEMU 7.2 would. Everything above (Execute, HotAddDisk, HotAddNic, HasDevice, _AddFd, _GetFd,
  HasDynamicAutoReadOnly…) is Ganeti's code."""

  VERSION = (7, 2, 0)

  def __init__(self):
    monitor.QmpConnection.__init__(self, "/nonexistent/plugboard-harness.qmp")
    self.commands = []
    self.version = self.VERSION
    self.package = "harness"
    self.sock = _FdSocket(self.commands)
    self._connected = True
    self._last = None
    self._fdsets = 0
    self._pci = {}

  def connect(self):
    pass

  def close(self):
    pass

  def _Send(self, message):
    data = json.loads(message.to_bytes().decode("utf-8"))
    self.commands.append({"qmp": data})
    self._last = data

  def _Recv(self):
    cmd = self._last.get("execute")
    args = self._last.get("arguments", {})
    if cmd == "add-fd":
      ret = {"fdset-id": self._fdsets, "fd": 100 + self._fdsets}
      self._fdsets += 1
    elif cmd == "query-qmp-schema":
      ret = [{"name": "BlockdevOptionsFile", "meta-type": "object", "features": ["dynamic-auto-read-only"]}]
    elif cmd == "query-pci":
      ret = [{"bus": 0, "devices": [{"qdev_id": i, "slot": s} for i, s in sorted(self._pci.items())]}]
    elif cmd == "query-block":
      ret = []
    else:
      if cmd == "device_add" and "addr" in args:
        self._pci[args["id"]] = int(str(args["addr"]), 16)
      ret = {}
    return monitor.QmpMessage({"return": ret})


class _OsProxy(object):
  """os as seen by hv_kvm.monitor during hot-add: the disk link exists and opens to a fake fd (as on
  a node, where Ganeti made the link); nothing on this machine is opened."""

  FAKE_FD = 1000

  def __init__(self, real, link):
    self._real = real
    self._link = link
    self.path = _OsPathProxy(real.path, link)

  def __getattr__(self, name):
    return getattr(self._real, name)

  def open(self, path, flags, *args):  # pylint: disable=W0622
    if path == self._link:
      return self.FAKE_FD
    return self._real.open(path, flags, *args)

  def close(self, fd):
    if fd != self.FAKE_FD:
      self._real.close(fd)


class _OsPathProxy(object):
  def __init__(self, real, link):
    self._real = real
    self._link = link

  def __getattr__(self, name):
    return getattr(self._real, name)

  def exists(self, path):
    return path == self._link or self._real.exists(path)


def _fake_open_tap(counter, symbolic=True):
  """hv_kvm.OpenTap without /dev/net/tun: as many fds as the real one opens, symbolic (TAPFDn,
  VHOSTFDn) for a command line, or made-up numbers for fd passing to a recording QMP."""

  def fd(kind):
    n = counter[kind]
    counter[kind] += 1
    if symbolic:
      return "%sFD%d" % (kind.upper(), n)
    return 200 + 10 * (kind == "vhost") + n

  def open_tap(name="", features=None):
    features = features or {}
    _, queues = features.get("mq", (False, 1))
    tapfds, vhostfds = [], []
    for _ in range(queues):
      tapfds.append(fd("tap"))
      if features.get("vhost", False):
        vhostfds.append(fd("vhost"))
    return (name or "tap%d" % (counter["tap"] - 1), tapfds, vhostfds)

  return open_tap


def local_kvm(kvm_cmd, override):
  if override:
    return override
  first = str(kvm_cmd[0]) if kvm_cmd else ""
  if first and os.access(first, os.X_OK):
    return first
  found = shutil.which("qemu-system-x86_64")
  if not found:
    raise RuntimeError("no QEMU to ask for --help/-device ?: give --kvm PATH")
  return found


# --- commands -----------------------------------------------------------------------------------

def cmd_load(args):
  kvm_cmd, nics, hvparams, disks = analyze(args.file)
  return {
    "cmd": kvm_cmd,
    "nics": [ganeti(n.ToDict) for n in nics],
    "hvparams": hvparams,
    "disks": [[ganeti(d.ToDict), link, uri] for d, link, uri in disks],
  }


def cmd_next_slot(args):
  runtime = analyze(args.file)
  dev_type = {"disk": constants.HOTPLUG_TARGET_DISK, "nic": constants.HOTPLUG_TARGET_NIC}[args.kind]
  device = objects.Disk(uuid=args.uuid) if args.kind == "disk" else objects.NIC(uuid=args.uuid)
  hv = HarnessKVM()
  # KVMHypervisor.HotAddDevice, Ganeti 3.0.2 hv_kvm/__init__.py lines 2280-2287, unchanged:
  kvm_devid = ganeti(hv_kvm._GenerateDeviceKVMId, dev_type, device)  # pylint: disable=W0212
  up_hvp = runtime[2]
  device_type = ganeti(lambda: hv_kvm._DEVICE_TYPE[dev_type](up_hvp))  # pylint: disable=W0212
  bus_state = ganeti(hv._GetBusSlots, up_hvp, runtime)  # pylint: disable=W0212
  return ganeti(hv_kvm._GenerateDeviceHVInfo, dev_type, kvm_devid, device_type, bus_state)  # pylint: disable=W0212


def harness_instance(kvm_cmd):
  """The objects.Instance Ganeti would pass. instance.hvparams is the cluster's view; the harness
  has no cluster: Ganeti's built-in KVM defaults, without password files (node files the harness
  does not read). Where Ganeti lays the runtime's hvparams over them, it does so itself."""
  conf_hvp = objects.FillDict(constants.HVC_DEFAULTS[constants.HT_KVM],
                              {constants.HV_VNC_PASSWORD_FILE: "",
                               constants.HV_KVM_SPICE_PASSWORD_FILE: ""})
  memory = 1024
  return objects.Instance(name=instance_name(kvm_cmd), hvparams=conf_hvp,
                          beparams={constants.BE_MAXMEM: memory, constants.BE_MINMEM: memory})


def cmd_device_options(args):
  runtime = analyze(args.file)
  kvm_cmd = runtime[0]
  kvm = local_kvm(kvm_cmd, args.kvm)
  instance = harness_instance(kvm_cmd)
  hv = HarnessKVM(kvm_path=kvm)
  prefix = len(kvm_cmd)
  real_open_tap, real_utils = hv_kvm.OpenTap, hv_kvm.utils
  hv_kvm.OpenTap = _fake_open_tap({"tap": 0, "vhost": 0})
  hv_kvm.utils = _UtilsProxy(real_utils, hv.log)
  try:
    kvmhelp = ganeti(hv._GetKVMOutput, kvm, hv._KVMOPT_HELP)  # pylint: disable=W0212
    ganeti(hv._ExecuteKVMRuntime, instance, runtime, kvmhelp)  # pylint: disable=W0212
  finally:
    hv_kvm.OpenTap, hv_kvm.utils = real_open_tap, real_utils
  argv = hv.captured
  if argv is None:
    raise RuntimeError("_ExecuteKVMRuntime returned without running QEMU")
  disks = hv.block_device_options or []
  # NIC options: the -netdev/-device/-net pairs appended before the block device options. Every
  # option _ExecuteKVMRuntime appends there takes one value (-runas, -k, -netdev, -device, -net,
  # -incoming, -qmp), so the region is read pairwise.
  appended = argv[prefix:]
  start = _find_sublist(appended, disks) if disks else len(appended)
  before_disks = appended[:start]
  nics = []
  for i in range(0, len(before_disks) - 1, 2):
    if before_disks[i] in ("-netdev", "-device", "-net"):
      nics.extend(before_disks[i:i + 2])
  return {"kvm": kvm, "argv": argv, "nics": nics, "disks": disks}


def cmd_hot_add(args):
  text = read_runtime(args.file)
  runtime = analyze(args.file)
  kvm_cmd = runtime[0]
  instance = harness_instance(kvm_cmd)
  qmp = RecordingQmpConnection()
  hv = HarnessKVM(kvm_path=local_kvm(kvm_cmd, args.kvm), runtime_text=text, qmp=qmp)
  if args.kind == "disk":
    dev_type = constants.HOTPLUG_TARGET_DISK
    seq = len(runtime[3])
    link = args.link or "/var/run/ganeti/instance-disks/%s:%d" % (instance.name, seq)
    device = objects.Disk(uuid=args.uuid, dev_type=constants.DT_PLAIN, mode=constants.DISK_RDWR,
                          size=1024, iv_name="disk/%d" % seq, params={}, children=[],
                          logical_id=["xenvg", "%s.disk%d" % (args.uuid, seq)])
    extra = (link, args.uri)
  else:
    dev_type = constants.HOTPLUG_TARGET_NIC
    seq = len(runtime[1])
    link = None
    device = objects.NIC(uuid=args.uuid, mac=args.mac,
                         nicparams={constants.NIC_MODE: constants.NIC_MODE_BRIDGED,
                                    constants.NIC_LINK: "br0"})
    extra = None
  real_open_tap, real_utils, real_os = hv_kvm.OpenTap, hv_kvm.utils, monitor.os
  hv_kvm.OpenTap = _fake_open_tap({"tap": 0, "vhost": 0}, symbolic=False)
  hv_kvm.utils = _UtilsProxy(real_utils, hv.log)
  monitor.os = _OsProxy(real_os, link)
  try:
    ganeti(hv.HotAddDevice, instance, dev_type, device, extra, seq)
  finally:
    hv_kvm.OpenTap, hv_kvm.utils, monitor.os = real_open_tap, real_utils, real_os
  if hv.written_runtime is None:
    raise RuntimeError("HotAddDevice returned without writing the runtime file")
  return {"hvinfo": device.hvinfo, "commands": qmp.commands,
          "runtime": serializer.Load(hv.written_runtime), "runtime_text": hv.written_runtime}


def _find_sublist(haystack, needle):
  for i in range(len(haystack) - len(needle) + 1):
    if haystack[i:i + len(needle)] == needle:
      return i
  raise RuntimeError("the block device options are not in the command line Ganeti built")


def main(argv):
  parser = argparse.ArgumentParser(prog="ganeti_runtime.py", description=__doc__.split("\n")[0])
  sub = parser.add_subparsers(dest="command", required=True)
  p = sub.add_parser("load", help="the runtime as Ganeti 3.0 loads it")
  p.add_argument("file")
  p = sub.add_parser("next-slot", help="hvinfo Ganeti 3.0 gives a hot-added disk or NIC")
  p.add_argument("file")
  p.add_argument("kind", choices=["disk", "nic"])
  p.add_argument("--uuid", default=DEFAULT_UUID)
  p = sub.add_parser("device-options", help="per-device QEMU options Ganeti 3.0 adds at start")
  p.add_argument("file")
  p.add_argument("--kvm", default=None)
  p = sub.add_parser("hot-add", help="QMP/HMP commands and new runtime of Ganeti 3.0's hot-add")
  p.add_argument("file")
  p.add_argument("kind", choices=["disk", "nic"])
  p.add_argument("--uuid", default=DEFAULT_UUID)
  p.add_argument("--mac", default="aa:00:00:00:00:01")
  p.add_argument("--link", default=None, help="disk symlink (default instance-disks/NAME:SEQ)")
  p.add_argument("--uri", default=None, help="userspace URI of the disk (default none)")
  p.add_argument("--kvm", default=None)
  args = parser.parse_args(argv)
  handler = {"load": cmd_load, "next-slot": cmd_next_slot, "device-options": cmd_device_options,
             "hot-add": cmd_hot_add}[args.command]
  try:
    result = handler(args)
  except GanetiRaised as raised:
    print(json.dumps({"error": {"class": type(raised.err).__name__, "message": str(raised.err)}}, sort_keys=True))
    return EXIT_GANETI_RAISED
  except OSError as err:
    sys.stderr.write("ganeti_runtime.py: %s\n" % err)
    return 1
  print(json.dumps(result, sort_keys=True))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
