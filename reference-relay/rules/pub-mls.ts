import { keyPackageMlsProblem } from '../../protocol/mls.js';
import { keyPackageRule, type PublishRule } from './publish.js';

/**
 * kp-pub-mls: a KeyPackage whose content is not a usable MLS KeyPackage of the
 * event's pubkey (decodes, basic credential with the raw pubkey, signatures
 * verify, ciphersuite as tagged) is refused "invalid:". The profile makes this
 * a MAY; the reference relay checks unless configured not to (mlsChecks).
 */
export const rejectUnusableMls: PublishRule = keyPackageRule(async (event) => {
  const problem = await keyPackageMlsProblem(event);
  return problem === undefined ? undefined : `not a usable MLS KeyPackage: ${problem}`;
});
