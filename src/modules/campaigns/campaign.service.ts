import { In, LessThan } from 'typeorm';
import type { AppContext } from '../../app-context.js';
import { BadUserInputError, NotFoundError } from '../../common/errors.js';
import { isRowId, requireRowId } from '../../common/ids.js';
import { requireText } from '../../common/validation.js';
import { CouponList, CouponListStatus, couponListStatus } from '../lists/coupon-list.entity.js';
import { Campaign, CampaignList, CampaignStatus, FinishReason, type CreateCampaignInput } from './campaign.entity.js';
import { CampaignStatusChanged } from './campaign.events.js';
import { campaignFinishedMessage } from './campaign-finishing.js';
import { writeWebhookMessages } from '../webhooks/webhook-outbox.js';

const MAX_LISTS_PER_CAMPAIGN = 100;
export const DEFAULT_CAMPAIGN_PAGE = 100;
export const MAX_CAMPAIGN_PAGE = 500;

export class CampaignService {
  constructor(private readonly app: AppContext) {}

  async findById(id: string): Promise<Campaign | null> {
    if (!isRowId(id)) return null;
    return this.app.dataSource.getRepository(Campaign).findOne({ where: { id } });
  }

  async getById(id: string): Promise<Campaign> {
    const campaign = await this.findById(id);
    if (!campaign) throw new NotFoundError('Campaign', id);
    return campaign;
  }

  /** A page of campaigns, newest first, after the campaign `after` (the last of the previous page). */
  list(status: CampaignStatus | null | undefined, first = DEFAULT_CAMPAIGN_PAGE, after: string | null = null): Promise<Campaign[]> {
    if (!Number.isInteger(first) || first < 1 || first > MAX_CAMPAIGN_PAGE) throw new BadUserInputError('first', `must be between 1 and ${MAX_CAMPAIGN_PAGE}`);
    const before = after === null ? null : requireRowId('after', after);
    return this.app.dataSource.getRepository(Campaign).find({
      where: { ...(status ? { status } : {}), ...(before ? { id: LessThan(before) } : {}) },
      order: { id: 'DESC' },
      take: first,
    });
  }

  /** The lists of each campaign, in their order, in one query. */
  async listsOfMany(campaignIds: string[]): Promise<Map<string, CouponList[]>> {
    const { entities, raw } = await this.app.dataSource
      .getRepository(CouponList)
      .createQueryBuilder('list')
      .innerJoin(CampaignList, 'link', 'link.list_id = list.id')
      .addSelect('link.campaign_id', 'link_campaign_id')
      .where('link.campaign_id IN (:...campaignIds)', { campaignIds })
      .orderBy('link.campaign_id')
      .addOrderBy('link.position', 'ASC')
      .getRawAndEntities();
    // Entities come once per list; the raw rows once per (campaign, list) link, in order.
    const listsById = new Map(entities.map((list) => [String(list.id), list]));
    const byCampaign = new Map<string, CouponList[]>();
    for (const row of raw as Array<{ link_campaign_id: string | number; list_id: string | number }>) {
      const list = listsById.get(String(row.list_id));
      if (!list) continue;
      const campaignId = String(row.link_campaign_id);
      byCampaign.set(campaignId, [...(byCampaign.get(campaignId) ?? []), list]);
    }
    return byCampaign;
  }

  async create(input: CreateCampaignInput): Promise<Campaign> {
    const name = requireText('input.name', input.name, 200);
    if (input.listIds.length === 0) throw new BadUserInputError('input.listIds', 'name at least one coupon list');
    if (input.listIds.length > MAX_LISTS_PER_CAMPAIGN) throw new BadUserInputError('input.listIds', `at most ${MAX_LISTS_PER_CAMPAIGN} lists`);
    const listIds = input.listIds.map((id, index) => requireRowId(`input.listIds[${index}]`, id));
    const duplicate = listIds.find((id, index) => listIds.indexOf(id) !== index);
    if (duplicate) throw new BadUserInputError('input.listIds', `list ${duplicate} is named twice`);

    return this.app.transaction(async (tx) => {
      const lists = await tx.manager.getRepository(CouponList).find({ where: { id: In(listIds) } });
      const missing = listIds.find((id) => !lists.some((list) => list.id === id));
      if (missing) throw new NotFoundError('Coupon list', missing);
      if (!lists.some((list) => couponListStatus(list) === CouponListStatus.ACTIVE)) {
        throw new BadUserInputError('input.listIds', 'none of these lists can hand out a code (all are exhausted or expired)');
      }
      const campaign = await tx.manager.getRepository(Campaign).save(
        tx.manager.getRepository(Campaign).create({ name, kind: input.kind, status: CampaignStatus.ACTIVE, finishedAt: null, finishReason: null }),
      );
      await tx.manager
        .getRepository(CampaignList)
        .insert(listIds.map((listId, position) => ({ campaignId: campaign.id, listId, position })));
      tx.publish(new CampaignStatusChanged(campaign.id, campaign.status, null));
      return campaign;
    });
  }

  /** Finishes a campaign by hand; finishing a finished campaign changes nothing. */
  async finish(id: string): Promise<Campaign> {
    return this.app.transaction(async (tx) => {
      const campaign = isRowId(id)
        ? await tx.manager.getRepository(Campaign).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } })
        : null;
      if (!campaign) throw new NotFoundError('Campaign', id);
      if (campaign.status === CampaignStatus.FINISHED) return campaign;
      campaign.status = CampaignStatus.FINISHED;
      campaign.finishReason = FinishReason.MANUAL;
      campaign.finishedAt = new Date();
      const saved = await tx.manager.getRepository(Campaign).save(campaign);
      await writeWebhookMessages(tx, [campaignFinishedMessage(saved.id, FinishReason.MANUAL, campaign.finishedAt)]);
      tx.publish(new CampaignStatusChanged(saved.id, saved.status, saved.finishReason));
      return saved;
    });
  }
}
