// The REST shapes come from the SDK (`clients/js/src/types.ts`); only what it lacks is here.
import type { Conversation } from "@agora/sdk/types.ts";

export type {
  Booking,
  ChatMessage as Message,
  Contract,
  ContractEvent,
  Conversation,
  Job,
  Money,
  Notification,
  Proposal,
  Provider,
  Review,
  Service,
  User,
} from "@agora/sdk/types.ts";

/** `GET /api/conversations/{id}`: the list's shape plus every member's read cursor. */
export interface ConversationDetail extends Conversation {
  read_seqs?: Record<string, number>;
}

export interface Category {
  id: string;
  name: string;
  parent_id: string | null;
}
