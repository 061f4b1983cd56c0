import { CampaignStatus, FinishReason } from '../../src/modules/campaigns/campaign.entity';
import { allocate, type CampaignRow, type ListState, type Plan, type ValidClaim, type WindowRow } from '../../src/modules/claims/claim-allocation';
import { CouponListKind } from '../../src/modules/lists/coupon-list.entity';

/** The pure allocation pass of a claim batch: which claim gets which slot of which list, or which refusal. */

const CAMPAIGN = '7';
const NOW = new Date('2030-01-01T12:00:00.000Z');

/** A list at `position` in the campaign. */
function list(id: string, position: number, available: number, options: { expired?: boolean; kind?: CouponListKind } = {}): ListState & { position: number } {
  return {
    row: {
      id,
      name: `List ${id}`,
      kind: options.kind ?? CouponListKind.UNIQUE,
      fixed_code: options.kind === CouponListKind.FIXED ? 'FIXED' : null,
      total_codes: available,
      assigned_codes: 0,
      warning_limit: null,
      expires_at: options.expired ? new Date(NOW.getTime() - 1000) : null,
      claim_cursor: '0',
      visible_seq: String(available),
    },
    position,
    expired: options.expired ?? false,
    available,
    codes: [],
    read: { cursor: '0', assigned: 0 },
    taken: 0,
  };
}

function campaign(status = CampaignStatus.ACTIVE, reason: FinishReason | null = null): CampaignRow {
  return { status, finish_reason: reason, now: NOW, list_id: null };
}

const claimOf = (userId: string, listId: string | null = null): ValidClaim => ({ campaignId: CAMPAIGN, userId, externalId: null, listId });

function run(claims: ValidClaim[], lists: Array<ListState & { position: number }>, options: { campaign?: CampaignRow; windows?: WindowRow[] } = {}): Plan[] {
  const byId = new Map(lists.map((state) => [state.row.id, state]));
  const byPosition = [...lists].sort((a, b) => a.position - b.position);
  const windows = new Map((options.windows ?? []).map((window) => [window.user_id, window]));
  return allocate(claims, CAMPAIGN, options.campaign ?? campaign(), new Set(byId.keys()), byId, byPosition, windows);
}

/** A plan in words: "new L1#0", "reuse-stored", "reuse-batch 0", or the refusal's code. */
function said(plan: Plan): string {
  if (plan.kind === 'new') return `new ${plan.list.row.id}#${plan.slot}`;
  if (plan.kind === 'reuse-batch') return `reuse-batch ${plan.of}`;
  if (plan.kind === 'reuse-stored') return `reuse-stored ${plan.window.id}`;
  return plan.error.code;
}

const window = (userId: string): WindowRow => ({ id: `a-${userId}`, list_id: '1', code: 'OLD', user_id: userId, external_id: null, assigned_at: NOW, expires_at: null });

describe('claim allocation', () => {
  it('fills the lists in their campaign order, slot after slot, and moves on when one runs out', () => {
    const plans = run([claimOf('u1'), claimOf('u2'), claimOf('u3'), claimOf('u4')], [list('2', 1, 5), list('1', 0, 2)]);
    expect(plans.map(said)).toEqual(['new 1#0', 'new 1#1', 'new 2#0', 'new 2#1']);
  });

  it('gives a user named twice in one batch the first assignment back', () => {
    const plans = run([claimOf('u1'), claimOf('u2'), claimOf('u1')], [list('1', 0, 5)]);
    expect(plans.map(said)).toEqual(['new 1#0', 'new 1#1', 'reuse-batch 0']);
  });

  it('hands back the open window before anything else, even in a finished campaign', () => {
    const plans = run([claimOf('u1'), claimOf('u2')], [list('1', 0, 5)], {
      campaign: campaign(CampaignStatus.FINISHED, FinishReason.MANUAL),
      windows: [window('u1')],
    });
    expect(plans.map(said)).toEqual(['reuse-stored a-u1', 'CAMPAIGN_FINISHED']);
  });

  it('refuses a list that is not the campaign\'s as bad input, before the window rule', () => {
    const plans = run([claimOf('u1', '99')], [list('1', 0, 5)], { windows: [window('u1')] });
    expect(plans.map(said)).toEqual(['BAD_USER_INPUT']);
  });

  it('serves a named list only from that list: EXPIRED wins over EXHAUSTED', () => {
    const plans = run([claimOf('u1', '2'), claimOf('u2', '3'), claimOf('u3', '2')], [list('1', 0, 5), list('2', 1, 1), list('3', 2, 0, { expired: true })]);
    expect(plans.map(said)).toEqual(['new 2#0', 'LIST_EXPIRED', 'LIST_EXHAUSTED']);
  });

  it('answers EXPIRED only when every list has expired, EXHAUSTED otherwise', () => {
    expect(run([claimOf('u1')], [list('1', 0, 3, { expired: true }), list('2', 1, 3, { expired: true })]).map(said)).toEqual(['LIST_EXPIRED']);
    expect(run([claimOf('u1')], [list('1', 0, 3, { expired: true }), list('2', 1, 0)]).map(said)).toEqual(['LIST_EXHAUSTED']);
  });

  it('never hands out more slots than a list has, whatever the batch size', () => {
    const claims = Array.from({ length: 50 }, (_, i) => claimOf(`u${i}`));
    const plans = run(claims, [list('1', 0, 20), list('2', 1, 10, { kind: CouponListKind.FIXED })]);
    const taken = (id: string) => plans.filter((plan) => plan.kind === 'new' && plan.list.row.id === id).length;
    expect(taken('1')).toBe(20);
    expect(taken('2')).toBe(10);
    expect(plans.filter((plan) => plan.kind === 'error').map(said)).toEqual(Array(20).fill('LIST_EXHAUSTED'));
    const slots = plans.flatMap((plan) => (plan.kind === 'new' ? [`${plan.list.row.id}#${plan.slot}`] : []));
    expect(new Set(slots).size).toBe(slots.length);
  });
});
