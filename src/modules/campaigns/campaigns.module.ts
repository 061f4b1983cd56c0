import type { AppModule } from '../app-module.js';
import { Campaign, CampaignList } from './campaign.entity.js';

export const campaignsModule: AppModule = {
  name: 'campaigns',
  entities: [Campaign, CampaignList],
};
