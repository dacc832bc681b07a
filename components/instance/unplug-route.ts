/**
 * Which screen an unplug opens: on an instance Ganeti manages, a device of Ganeti's goes out through
 * a Ganeti job (the job screen: its exact request, a confirm — `yes` for a disk, whose data Ganeti
 * deletes); any other device (not Ganeti's instance, or a device Ganeti does not have: the node-local
 * repair) through plugboard's own QMP unplug.
 */
import type { DeviceDetail, MapPlace } from '../../src/tui/detail.js';
import type { Screen } from '../app-state.js';

export function unplugScreen(name: string, place: MapPlace, detail: DeviceDetail): Screen {
  const kind = detail.runtime?.kind ?? 'disk';
  const g = detail.ganeti?.ganeti;
  if (detail.unplugVia === 'ganeti') {
    // By Ganeti's UUID when the view has Ganeti's device; else by the device id (Ganeti resolves it
    // when it can be asked: the job screen says why not otherwise).
    const ref = g?.uuid ?? detail.device?.id ?? '';
    const label = detail.ganeti?.label ?? ref;
    const disk = kind === 'disk';
    return {
      kind: 'ganeti-job',
      name,
      action: disk ? { kind: 'disk-remove', instance: name, disk: ref } : { kind: 'nic-remove', instance: name, nic: ref },
      title: `Unplug ${label} from ${name}`,
      question: disk
        ? `Ganeti hot-removes ${label} and DELETES ITS DATA: type yes and Enter to send it (Esc keeps it)`
        : `Ganeti hot-removes ${label} (the guest must acknowledge the PCI unplug): y and Enter to send it (Esc keeps it)`,
      confirm: disk ? 'yes' : 'y',
    };
  }
  return { kind: 'unplug', name, place, deviceId: detail.device?.id ?? '', deviceKind: kind };
}
