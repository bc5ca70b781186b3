/**
 * @dari/fuzz: the fuzz campaign behind bench/fuzz (issue 14): targets for the STUN/TURN codec,
 * the sans-I/O TURN server and the signaling core, with their generators and invariants, and a
 * resumable runner. Not part of the product: a test and benchmark tool.
 */
export { runCampaign, type CampaignOptions, type CampaignReport, type TargetReport } from './campaign.js';
export { targetOf, describeError, type Finding } from './targets.js';
export { TARGET_NAMES, InvariantError, type TargetName, type CaseRecord, type CaseOutcome, type Target } from './target.js';
export { Rng, caseRng } from './rng.js';
export { minimize, failureOf } from './minimize.js';
