/**
 * What every screen gets from the App: the core service (never a socket or a file directly) and
 * the navigation callbacks.
 */
import { createContext, useContext } from 'react';
import { InternalError } from '../src/errors.js';
import type { InstanceService } from '../src/tui/service.js';
import type { Screen } from './app-state.js';

export const ServiceContext = createContext<InstanceService | null>(null);

export function useService(): InstanceService {
  const s = useContext(ServiceContext);
  if (!s) throw new InternalError('useService outside of <ServiceContext.Provider>');
  return s;
}

export interface Nav {
  open(screen: Screen): void;
  back(): void;
  backTo(kind: Screen['kind']): void;
  quit(): void;
}

const noop = (): void => undefined;
export const NavContext = createContext<Nav>({ open: noop, back: noop, backTo: noop, quit: noop });

export function useNav(): Nav {
  return useContext(NavContext);
}
