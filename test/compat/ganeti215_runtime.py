"""Ganeti 2.15 compatibility harness: what Ganeti 2.15's OWN code makes of a KVM runtime file.

Ganeti 2.15 is the last version before the hvinfo design: the one `plugboard downgrade` writes for.
Run with Python 2.7 and PYTHONPATH=TREE:TREE/stubs, TREE being the tree test/compat/ganeti215/make-tree.sh
builds (.cache/ganeti-2.15). Every answer comes from Ganeti 2.15.2's functions in
ganeti/hypervisor/hv_kvm/__init__.py and ganeti/objects.py, called unmodified:

  load FILE
      _AnalyzeSerializedRuntime (2.15's _UpgradeSerializedRuntime, then objects.NIC.FromDict and
      objects.Disk.FromDict, which refuse keys that are not slots). Prints {"nics": [NIC.ToDict()],
      "disks": [[Disk.ToDict(), link, uri]], "ids": {"nics": [...], "disks": [...]}}, the ids being
      what _GenerateDeviceKVMId gives each device (the id 2.15's hot-unplug and a migration target
      use), or {"error": ...} for a device it cannot name (no pci slot).

  start FILE [--kvm PATH]
      KVMHypervisor.AcceptInstance's start of a migration target: _LoadKVMRuntime and the whole
      _ExecuteKVMRuntime with incoming=(127.0.0.1, 8102), run for real with only its side effects
      replaced by recorders (nothing is started, opened or written). Prints {"argv"}: the QEMU
      command line 2.15 would exec (tap fds as TAPFDn).

  hot-del FILE disk|nic INDEX --qmp SOCKET
      The first lines of KVMHypervisor.HotDelDevice (2.15.2 lines 1936-1945): the runtime entry
      (_GetExistingDeviceInfo), its id (_GenerateDeviceKVMId), then QmpConnection(SOCKET).HotDelDisk
      or HotDelNic over the real socket: Ganeti 2.15's QMP client asks a real QEMU to remove the
      device by the id 2.15 knows it by. Prints {"id", "ok": true}.

Output: one line of JSON, keys sorted. Exit codes: 0 answer printed; 3 Ganeti's code raised (stdout
{"error": {"class", "message"}}: e.g. a file 2.15 cannot load, QEMU's "Device not found"); 2 bad
usage; 1 a failure of the harness itself.
"""

import argparse
import json
import os
import sys

try:
  from ganeti import constants, objects
  from ganeti.hypervisor import hv_kvm
  from ganeti.hypervisor.hv_kvm import monitor
except ImportError as err:  # pragma: no cover - depends on the machine
  sys.stderr.write("ganeti215_runtime.py: cannot import Ganeti 2.15's hv_kvm (%s); build the tree with"
                   " test/compat/ganeti215/make-tree.sh and set PYTHONPATH=TREE:TREE/stubs\n" % err)
  sys.exit(1)

EXIT_GANETI_RAISED = 3


class GanetiRaised(Exception):
  """An exception raised inside Ganeti's code: Ganeti's verdict, not a harness failure."""

  def __init__(self, err):
    Exception.__init__(self, str(err))
    self.err = err


def ganeti(fn, *args, **kwargs):
  try:
    return fn(*args, **kwargs)
  except Exception as err:  # pylint: disable=broad-except
    raise GanetiRaised(err)


def read_runtime(path):
  with open(path, "r") as f:
    return f.read()


def analyze(text):
  return ganeti(hv_kvm._AnalyzeSerializedRuntime, text)  # pylint: disable=W0212


def device_id(dev_type, dev):
  try:
    return hv_kvm._GenerateDeviceKVMId(dev_type, dev)  # pylint: disable=W0212
  except Exception as err:  # pylint: disable=broad-except
    return {"error": {"class": type(err).__name__, "message": str(err)}}


def cmd_load(args):
  _, nics, _, disks = analyze(read_runtime(args.file))
  return {
    "nics": [ganeti(n.ToDict) for n in nics],
    "disks": [[ganeti(d.ToDict), link, uri] for d, link, uri in disks],
    "ids": {
      "nics": [device_id(constants.HOTPLUG_TARGET_NIC, n) for n in nics],
      "disks": [device_id(constants.HOTPLUG_TARGET_DISK, d) for d, _, _ in disks],
    },
  }


class _UtilsProxy(object):
  """ganeti.utils as hv_kvm sees it while the harness runs: the writers are recorded."""

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
  """Ganeti 2.15's KVMHypervisor with its side effects replaced by recorders (as in
  test/compat/ganeti_runtime.py for 3.0): __init__ (creates dirs), _CheckDown, _ClearUserShutdown,
  _StartKvmd, _ConfigureNIC, _RunKVMCmd (captures the argv), _CallMonitorCommand,
  _ExecuteCpuAffinity, _InstanceStartupMemory, BalloonInstanceMemory; _GetKVMOutput is Ganeti's,
  run against this machine's QEMU."""

  def __init__(self, kvm_path):  # pylint: disable=W0231
    self.log = []
    self.qmp = None
    self.kvm_path = kvm_path
    self.captured = None

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
    self.log.append(["monitor", command])

  def _GetKVMOutput(self, kvm_path, option):  # pylint: disable=W0221
    return hv_kvm.KVMHypervisor._GetKVMOutput(self.kvm_path, option)


def _fake_open_tap(counter):
  def open_tap(name="", features=None, **_kwargs):
    features = features or {}
    _, queues = features.get("mq", (False, 1))
    tapfds, vhostfds = [], []
    for _ in range(queues):
      tapfds.append("TAPFD%d" % counter["tap"])
      counter["tap"] += 1
      if features.get("vhost", False):
        vhostfds.append("VHOSTFD%d" % counter["vhost"])
        counter["vhost"] += 1
    return (name or "tap%d" % (counter["tap"] - 1), tapfds, vhostfds)
  return open_tap


def instance_name(kvm_cmd):
  for i, arg in enumerate(kvm_cmd[:-1]):
    if arg == "-name":
      return str(kvm_cmd[i + 1]).split(",")[0]
  return "instance1.example.com"


def cmd_start(args):
  text = read_runtime(args.file)
  kvm_cmd = analyze(text)[0]
  kvm = args.kvm
  if not kvm:
    for d in os.environ.get("PATH", "").split(os.pathsep):
      if os.access(os.path.join(d, "qemu-system-x86_64"), os.X_OK):
        kvm = os.path.join(d, "qemu-system-x86_64")
        break
  if not kvm:
    raise RuntimeError("no QEMU to ask for --help/-device ?: give --kvm PATH")
  conf_hvp = objects.FillDict(constants.HVC_DEFAULTS[constants.HT_KVM],
                              {constants.HV_VNC_PASSWORD_FILE: "",
                               constants.HV_KVM_SPICE_PASSWORD_FILE: ""})
  memory = 1024
  instance = objects.Instance(name=instance_name(kvm_cmd), hvparams=conf_hvp, uuid="00000000-1111-2222-3333-444444444444",
                              beparams={constants.BE_MAXMEM: memory, constants.BE_MINMEM: memory})
  hv = HarnessKVM(kvm)
  real_open_tap, real_utils = hv_kvm.OpenTap, hv_kvm.utils
  hv_kvm.OpenTap = _fake_open_tap({"tap": 0, "vhost": 0})
  hv_kvm.utils = _UtilsProxy(real_utils, hv.log)
  try:
    # KVMHypervisor.AcceptInstance, Ganeti 2.15.2, with the harness's QEMU:
    kvm_runtime = ganeti(hv._LoadKVMRuntime, instance, serialized_runtime=text)  # pylint: disable=W0212
    kvmhelp = ganeti(hv._GetKVMOutput, kvm, hv._KVMOPT_HELP)  # pylint: disable=W0212
    ganeti(hv._ExecuteKVMRuntime, instance, kvm_runtime, kvmhelp, incoming=("127.0.0.1", 8102))  # pylint: disable=W0212
  finally:
    hv_kvm.OpenTap, hv_kvm.utils = real_open_tap, real_utils
  return {"argv": [str(a) for a in hv.captured]}


def cmd_hot_del(args):
  dev_type = {"disk": constants.HOTPLUG_TARGET_DISK, "nic": constants.HOTPLUG_TARGET_NIC}[args.kind]
  runtime = analyze(read_runtime(args.file))
  entries = runtime[3] if args.kind == "disk" else runtime[1]
  device = entries[args.index][0] if args.kind == "disk" else entries[args.index]
  # KVMHypervisor.HotDelDevice, Ganeti 2.15.2 lines 1936-1945, with the harness's socket:
  entry = ganeti(hv_kvm._GetExistingDeviceInfo, dev_type, device, runtime)  # pylint: disable=W0212
  kvm_device = hv_kvm._RUNTIME_DEVICE[dev_type](entry)  # pylint: disable=W0212
  kvm_devid = ganeti(hv_kvm._GenerateDeviceKVMId, dev_type, kvm_device)  # pylint: disable=W0212
  qmp = monitor.QmpConnection(args.qmp)
  if dev_type == constants.HOTPLUG_TARGET_DISK:
    ganeti(qmp.HotDelDisk, kvm_devid)
  else:
    ganeti(qmp.HotDelNic, kvm_devid)
  return {"id": kvm_devid, "ok": True}


def main(argv):
  parser = argparse.ArgumentParser(prog="ganeti215_runtime.py", description=__doc__.split("\n")[0])
  sub = parser.add_subparsers(dest="command")
  p = sub.add_parser("load")
  p.add_argument("file")
  p = sub.add_parser("start")
  p.add_argument("file")
  p.add_argument("--kvm", default=None)
  p = sub.add_parser("hot-del")
  p.add_argument("file")
  p.add_argument("kind", choices=["disk", "nic"])
  p.add_argument("index", type=int)
  p.add_argument("--qmp", required=True)
  args = parser.parse_args(argv)
  handler = {"load": cmd_load, "start": cmd_start, "hot-del": cmd_hot_del}[args.command]
  try:
    result = handler(args)
  except GanetiRaised as raised:
    print(json.dumps({"error": {"class": type(raised.err).__name__, "message": str(raised.err)}}, sort_keys=True))
    return EXIT_GANETI_RAISED
  except (OSError, IOError) as err:
    sys.stderr.write("ganeti215_runtime.py: %s\n" % err)
    return 1
  print(json.dumps(result, sort_keys=True))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
