import type { ApiKeyRole } from './api-key-role.js';

/** Who is calling: the API key that authenticated the request or WebSocket connection. */
export interface Caller {
  /** The key's id, or "bootstrap" for ADMIN_API_KEY. */
  keyId: string;
  role: ApiKeyRole;
  /** CLIENT keys: the campaigns it may claim and redeem in; empty or absent = all. */
  campaignIds?: readonly string[];
}
