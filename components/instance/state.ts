/**
 * The instance screen's widget state: which pane has the keys, the selected slot of pci.0 and row
 * of the scsi.0 list, and a one-line message (why an action is not possible here). Pure reducer.
 */
import type { MapCells } from './cells.js';

export type Pane = 'pci' | 'scsi';

export interface InstanceScreenState {
  pane: Pane;
  slot: number;
  scsiRow: number;
  scsiTop: number;
  /** The first selection (on the first disk) was made. */
  placed: boolean;
  flash: string | null;
}

export type InstanceScreenAction =
  | { type: 'place'; pane: Pane; slot: number; scsiRow: number }
  | { type: 'toggle-pane'; hasScsi: boolean }
  | { type: 'move'; dx: number; dy: number; perRow: number; scsiCount: number }
  | { type: 'edge'; to: 'first' | 'last'; scsiCount: number }
  | { type: 'flash'; message: string | null }
  | { type: 'scsi-scrolled'; top: number };

export const initialInstanceScreenState: InstanceScreenState = { pane: 'pci', slot: 0, scsiRow: 0, scsiTop: 0, placed: false, flash: null };

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

export function instanceScreenReducer(state: InstanceScreenState, action: InstanceScreenAction): InstanceScreenState {
  switch (action.type) {
    case 'place':
      return { ...state, pane: action.pane, slot: action.slot, scsiRow: action.scsiRow, placed: true };
    case 'toggle-pane':
      if (!action.hasScsi) return { ...state, pane: 'pci', flash: 'this instance has no SCSI controller: scsi.0 does not exist' };
      return { ...state, pane: state.pane === 'pci' ? 'scsi' : 'pci', flash: null };
    case 'move':
      if (state.pane === 'pci') return { ...state, slot: clamp(state.slot + action.dx + action.dy * action.perRow, 0, 31), flash: null };
      return { ...state, scsiRow: clamp(state.scsiRow + action.dy + action.dx, 0, Math.max(0, action.scsiCount - 1)), flash: null };
    case 'edge':
      if (state.pane === 'pci') return { ...state, slot: action.to === 'first' ? 0 : 31, flash: null };
      return { ...state, scsiRow: action.to === 'first' ? 0 : Math.max(0, action.scsiCount - 1), flash: null };
    case 'flash':
      return state.flash === action.message ? state : { ...state, flash: action.message };
    case 'scsi-scrolled':
      return state.scsiTop === action.top ? state : { ...state, scsiTop: action.top };
    default: {
      const never: never = action;
      return never;
    }
  }
}

/**
 * Where the selection starts: on the first disk (the SCSI pane for SCSI disks), else on the slot the
 * next hot-add takes, else slot 0.
 */
export function initialPlace(cells: MapCells): { pane: Pane; slot: number; scsiRow: number } {
  const scsiDisk = cells.scsi?.findIndex((r) => r.kind === 'device') ?? -1;
  if (scsiDisk >= 0) return { pane: 'scsi', slot: firstPciSlot(cells), scsiRow: scsiDisk };
  return { pane: 'pci', slot: firstPciSlot(cells), scsiRow: 0 };
}

function firstPciSlot(cells: MapCells): number {
  const disk = cells.pci.find((c) => c.kind === 'disk') ?? cells.pci.find((c) => c.kind === 'nic') ?? cells.pci.find((c) => c.next.length > 0);
  return disk?.slot ?? 0;
}
