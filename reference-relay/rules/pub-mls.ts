import { KIND, PREFIX } from '../../protocol/profile.js';
import type { PublishRule } from './publish.js';
import { Refusal } from './refusal.js';

/**
 * kp-pub-mls: a KeyPackage whose content is not a usable MLS KeyPackage of the
 * event's pubkey (decodes, basic credential with the raw pubkey, signatures
 * verify, ciphersuite as tagged) is refused "invalid:". The profile makes this
 * a MAY; the reference relay checks unless configured not to (mlsChecks).
 */
export const rejectUnusableMls: PublishRule = async (ctx, event) => {
  if (event.kind !== KIND.keyPackage) return undefined;
  const problem = await ctx.verifier.keyPackageMlsProblem(event);
  return problem === undefined ? undefined : new Refusal(PREFIX.invalid, `not a usable MLS KeyPackage: ${problem}`);
};
