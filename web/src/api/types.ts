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

// Payments (docs/payments.md): amounts in `Money` are minor units; bare numbers (`released`,
// `held`, ledger `available`/`held`) are signed minor units of the object's currency.
export type MilestoneStatus = "unfunded" | "funded" | "submitted" | "changes_requested" | "released" | "refunded" | "removed";

export interface Milestone {
  id: string;
  contract_id: string;
  position: number;
  title: string;
  amount: import("@agora/sdk/types.ts").Money;
  due_date: string | null;
  status: MilestoneStatus;
  payment_id: string | null;
  released: number;
  refunded: number;
  held: number;
  submitted_at: string | null;
  updated_at: string;
}

export interface MilestoneSet {
  results: Milestone[];
  in_escrow: import("@agora/sdk/types.ts").Money;
}

export interface PaymentMethod {
  id: string;
  kind: "card";
  brand: string;
  last4: string;
  exp_month: number;
  exp_year: number;
  created_at: string;
}

export interface Payment {
  id: string;
  payer_id: string;
  payee_id: string;
  purpose: { kind: "milestone"; contract_id: string; milestone_id: string } | { kind: "booking"; booking_id: string };
  amount: import("@agora/sdk/types.ts").Money;
  refunded: number;
  status: "pending" | "succeeded" | "failed" | "partially_refunded" | "refunded";
  card: { brand: string; last4: string; exp_month: number; exp_year: number } | null;
  failure: string | null;
  created_at: string;
  updated_at: string;
}

export interface FundResult {
  payment: Payment;
  milestone: Milestone;
  contract_status: string;
}

export interface Receipt {
  number: string;
  payment_id: string;
  status: string;
  amount: import("@agora/sdk/types.ts").Money;
  refunded: import("@agora/sdk/types.ts").Money;
  net: import("@agora/sdk/types.ts").Money;
  payer: { id: string; name: string };
  payee: { id: string; name: string };
  for: { kind: "milestone" | "booking"; title: string; contract_id?: string; milestone_id?: string; booking_id?: string };
  card: { brand: string; last4: string; exp_month: number; exp_year: number } | null;
  paid_at: string;
}

export interface Balance {
  currency: string;
  available: import("@agora/sdk/types.ts").Money;
  held: import("@agora/sdk/types.ts").Money;
}

export interface LedgerEntry {
  txn_id: string;
  kind: string;
  reference: string;
  available: number;
  held: number;
  at: string;
}

export interface PayoutMethod {
  id: string;
  kind: "bank_account";
  holder_name: string;
  country: string;
  last4: string;
  created_at: string;
}

export interface Payout {
  id: string;
  payout_method_id: string;
  amount: import("@agora/sdk/types.ts").Money;
  status: "requested" | "pending" | "paid" | "failed" | "rejected";
  failure: string | null;
  created_at: string;
  updated_at: string;
}

// Availability (routes/availability.rs).
export interface Slots {
  service_id: string;
  available: boolean;
  time_zone: string;
  provider_time_zone: string | null;
  duration_minutes: number;
  results: { start: string; start_utc: string }[];
}

export interface Availability {
  provider_id: string;
  set: boolean;
  time_zone: string;
  weekly: Partial<Record<"mon" | "tue" | "wed" | "thu" | "fri" | "sat" | "sun", [string, string][]>>;
  overrides: { date: string; ranges: [string, string][] }[];
}
