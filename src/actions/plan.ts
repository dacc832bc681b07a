/**
 * The one entry to the pure planners: an action and its context → a plan (or a RefusedError /
 * InputError saying why, before anything is sent). See types.ts for what a plan holds.
 */
import { InternalError } from '../errors.js';
import type { PlanContext } from './context.js';
import { planDiskHotAdd, planDiskUnplug } from './plan-disk.js';
import { planNicHotAdd, planNicUnplug } from './plan-nic.js';
import type { Action, Plan } from './types.js';

export function makePlan(action: Action, ctx: PlanContext): Plan {
  switch (action.type) {
    case 'hot-add-disk':
      return planDiskHotAdd(action, ctx);
    case 'unplug-disk':
      return planDiskUnplug(action, ctx);
    case 'hot-add-nic':
      return planNicHotAdd(action, ctx);
    case 'unplug-nic':
      return planNicUnplug(action, ctx);
    default: {
      const never: never = action;
      throw new InternalError(`unknown action ${String(never)}`);
    }
  }
}
