/** The marmot-relay/1 tests (PROFILE-MARMOT.md), in the order of its sections. */
import type { ConformanceTest } from '../../types.js';
import { keyPackageTests } from './keypackages.js';
import { deletionTests } from './deletion.js';
import { groupMessageTests } from './group-messages.js';
import { welcomeTests } from './welcomes.js';
import { relayListTests } from './relay-lists.js';
import { protectedTests } from './protected.js';
import { coexistTests } from './coexist.js';
import { advertiseTests } from './advertise.js';

export const marmotTests: ConformanceTest[] = [
  ...keyPackageTests,
  ...deletionTests,
  ...groupMessageTests,
  ...welcomeTests,
  ...relayListTests,
  ...protectedTests,
  ...coexistTests,
  ...advertiseTests,
];
