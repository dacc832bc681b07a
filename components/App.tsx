/**
 * The root of the view: the screen stack (only the top one is shown and gets the keys; the others
 * stay mounted, hidden, so their selection survives), the service and navigation contexts, and the
 * app's one exit point.
 */
import React, { useEffect, useMemo, useReducer } from 'react';
import { Box, useApp, type DOMElement } from 'ink';
import type { InstanceService } from '../src/tui/service.js';
import { appReducer, initialAppState, type Screen } from './app-state.js';
import { NavContext, ServiceContext, type Nav } from './context.js';
import { DeviceDetailScreen } from './detail/DeviceDetail.js';
import { HelpScreen } from './help/HelpScreen.js';
import { useTerminalSize } from './hooks.js';
import { InstanceScreen } from './instance/InstanceScreen.js';
import { InstancesScreen } from './instances/InstancesScreen.js';
import { frameHeight, type Size } from './layout.js';
import { QmpLogScreen } from './qmplog/QmpLogScreen.js';
import { UnplugScreen } from './unplug/UnplugScreen.js';
import { WhatIfScreen } from './whatif/WhatIfScreen.js';
import { HotplugWizard } from './wizard/HotplugWizard.js';

export interface AppProps {
  service: InstanceService;
  /** Shown at the top of the instance list (`plugboard demo`, the root). */
  title: string;
  /** Start with this screen, or this stack of screens (the last on top). */
  first?: Screen | readonly Screen[];
  /** Fix the size instead of following the terminal (tests). */
  size?: Size;
  /** The frame's root element (tests look at the laid-out tree: test/unit/tui-frame.test.tsx). */
  rootRef?: React.Ref<DOMElement>;
}

function ScreenView({ screen, active, size, title }: { screen: Screen; active: boolean; size: Size; title: string }): React.JSX.Element {
  switch (screen.kind) {
    case 'instances':
      return <InstancesScreen active={active} size={size} title={title} />;
    case 'instance':
      return <InstanceScreen name={screen.name} active={active} size={size} />;
    case 'wizard':
      return <HotplugWizard name={screen.name} active={active} size={size} />;
    case 'unplug':
      return <UnplugScreen name={screen.name} place={screen.place} deviceId={screen.deviceId} deviceKind={screen.deviceKind} active={active} size={size} />;
    case 'detail':
      return <DeviceDetailScreen name={screen.name} place={screen.place} active={active} size={size} />;
    case 'whatif':
      return <WhatIfScreen name={screen.name} active={active} size={size} />;
    case 'qmplog':
      return <QmpLogScreen active={active} size={size} />;
    case 'help':
      return <HelpScreen active={active} size={size} />;
    default: {
      const never: never = screen;
      return never;
    }
  }
}

export function App({ service, title, first, size: fixedSize, rootRef }: AppProps): React.JSX.Element {
  const [state, dispatch] = useReducer(appReducer, first, initialAppState);
  const { exit } = useApp();
  const terminal = useTerminalSize();
  const size = fixedSize ?? terminal;

  // The one way out of the app.
  useEffect(() => {
    if (state.quit) exit();
  }, [state.quit, exit]);

  const nav: Nav = useMemo(
    () => ({
      open: (screen) => dispatch({ type: 'open', screen }),
      back: () => dispatch({ type: 'back' }),
      backTo: (kind) => dispatch({ type: 'back-to', kind }),
      quit: () => dispatch({ type: 'quit' }),
    }),
    [],
  );

  const last = state.stack.length - 1;
  return (
    <ServiceContext.Provider value={service}>
      <NavContext.Provider value={nav}>
        <Box ref={rootRef} flexDirection="column" width={size.columns} height={frameHeight(size)} overflow="hidden">
          {state.stack.map((screen, i) => (
            <Box key={state.keys[i]} display={i === last ? 'flex' : 'none'} flexDirection="column">
              <ScreenView screen={screen} active={i === last && !state.quit} size={size} title={title} />
            </Box>
          ))}
        </Box>
      </NavContext.Provider>
    </ServiceContext.Provider>
  );
}
