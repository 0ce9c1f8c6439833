/**
 * REST resource shapes, as `GET /api/schema` and the running server answer them. Response
 * objects may gain fields; the SDK passes them through.
 */
import type { Notification, NotificationType } from "./frames.js";

export type { Notification, NotificationType };

/** Money is integer minor units and a currency: `{"amount": 12500, "currency": "USD"}`. */
export interface Money {
  amount: number;
  currency: string;
}

/** One page of a list: `{results, next_cursor}`. */
export interface Page<T> {
  results: T[];
  next_cursor: string | null;
}

/** `?limit=` (default 20, max 100) and `?cursor=` (the previous page's `next_cursor`). */
export interface PageParams {
  limit?: number;
  cursor?: string | null;
}

export type Role = "client" | "worker" | "provider" | "admin";

export interface User {
  id: string;
  /** Only for the user themself and admins. */
  email?: string | null;
  username: string | null;
  role: Role;
  first_name: string;
  last_name: string;
  email_verified: boolean;
  created_at: string;
}

// --- auth ------------------------------------------------------------------------------

export interface RegisterBody {
  email: string;
  password: string;
  /** `client` (default), `worker` or `provider`; `admin` is refused. */
  role?: Exclude<Role, "admin">;
  username?: string;
  first_name?: string;
  last_name?: string;
}

/** Log in with `email` or `username`. */
export type LoginBody = { email: string; password: string } | { username: string; password: string };

export interface AuthResponse {
  user: User;
  access: string;
  refresh: string;
}

export interface SessionResponse {
  user: User;
  access: string;
  csrf: string;
}

export interface TokenPair {
  access: string;
  refresh: string;
}

export interface PatchMeBody {
  first_name?: string;
  last_name?: string;
  username?: string;
}

// --- marketplace ------------------------------------------------------------------------

export interface Service {
  id: string;
  provider_id: string;
  owner_id: string;
  title: string;
  description: string;
  category_id: string | null;
  price: Money;
  duration_minutes: number | null;
  tags: string[];
  rating_avg: number;
  reviews_count: number;
  likes_count: number;
  /** On the detail, for the caller. */
  liked?: boolean;
  created_at: string;
  updated_at: string;
  /** The public gallery in display order (absent when empty). */
  gallery?: GalleryImage[];
}

export interface ServiceBody {
  title: string;
  description: string;
  category_id?: string | null;
  price: Money;
  duration_minutes?: number | null;
  tags?: string[];
}

export type ServiceOrdering = "price" | "-price" | "-created_at" | "created_at" | "rating" | "popularity";

export interface ServiceFilters extends PageParams {
  /** Full-text search (ranked). */
  q?: string;
  category?: string;
  provider?: string;
  /** Minor units. */
  price_min?: number;
  price_max?: number;
  ordering?: ServiceOrdering;
}

export interface ProviderSkill {
  skill_id: string;
  level: string | number;
}

export interface Provider {
  id: string;
  user_id: string;
  bio: string;
  hourly_rate: Money;
  city: string | null;
  country: string | null;
  category_ids: string[];
  skills: ProviderSkill[];
  availability: string;
  is_verified: boolean;
  rating_avg: number;
  reviews_count: number;
  completed_jobs: number;
  created_at: string;
  updated_at: string;
}

export interface ProviderBody {
  bio: string;
  hourly_rate: Money;
  city?: string | null;
  country?: string | null;
  category_ids?: string[];
  skills?: ProviderSkill[];
  availability?: string;
}

export type ProviderOrdering = "rating" | "hourly_rate" | "-hourly_rate" | "completed_jobs" | "-created_at";

export interface ProviderFilters extends PageParams {
  q?: string;
  availability?: string;
  category?: string;
  city?: string;
  country?: string;
  verified?: boolean;
  ordering?: ProviderOrdering;
}

export type JobStatus = "open" | "in_progress" | "completed" | "cancelled";

export interface Job {
  id: string;
  client_id: string;
  title: string;
  description: string;
  budget_min: Money | null;
  budget_max: Money | null;
  deadline: string | null;
  category_id: string | null;
  skill_ids: string[];
  max_hires: number;
  hires: number;
  status: JobStatus;
  proposals_count: number;
  created_at: string;
  updated_at: string;
}

export interface JobBody {
  title: string;
  description: string;
  budget_min?: Money | null;
  budget_max?: Money | null;
  /** `YYYY-MM-DD`, not in the past. */
  deadline?: string | null;
  category_id?: string | null;
  skill_ids?: string[];
  max_hires?: number;
}

export interface JobPatch extends Partial<JobBody> {
  /** `cancelled`, or `completed` for an in-progress job. */
  status?: "cancelled" | "completed";
}

export interface JobFilters extends PageParams {
  q?: string;
  category?: string;
  ordering?: "-created_at" | "created_at" | "budget" | "-budget";
}

export type ProposalStatus = "pending" | "accepted" | "rejected" | "withdrawn" | (string & {});

export interface Proposal {
  id: string;
  job_id: string;
  job_client_id: string;
  provider_id: string;
  rate: Money;
  message: string | null;
  status: ProposalStatus;
  contract_id: string | null;
  created_at: string;
  updated_at: string;
}

export interface ProposalBody {
  job_id: string;
  rate: Money;
  message?: string;
}

export type ContractStatus = "pending" | "active" | "delivered" | "completed" | "cancelled" | "disputed";

export interface Contract {
  id: string;
  job_id: string;
  proposal_id: string;
  client_id: string;
  provider_id: string;
  title: string;
  agreed_rate: Money;
  deadline: string | null;
  status: ContractStatus;
  created_at: string;
  updated_at: string;
}

export interface ContractEvent {
  from: ContractStatus | null;
  to: ContractStatus;
  actor_id: string | null;
  actor_role: string | null;
  reason: string | null;
  at: string;
  version: number;
}

export type BookingStatus = "requested" | "confirmed" | "completed" | "declined" | "cancelled";

export interface Booking {
  id: string;
  service_id: string;
  client_id: string;
  provider_id: string;
  start_at: string;
  end_at: string;
  note: string | null;
  status: BookingStatus;
  price: Money;
  payment_method_id: string | null;
  payment_id: string | null;
  paid: boolean;
  created_at: string;
  updated_at: string;
}

export interface BookingBody {
  service_id: string;
  /** RFC 3339, not in the past. */
  start_at: string;
  /** RFC 3339, after `start_at`, at most 30 days later. */
  end_at: string;
  note?: string;
  payment_method_id?: string;
}

export interface BookingFilters extends PageParams {
  status?: BookingStatus;
  /** `client`: bookings I made; `provider`: bookings of my services. */
  role?: "client" | "provider";
}

export interface Review {
  id: string;
  author_id: string;
  reviewee_id: string;
  contract_id: string | null;
  booking_id: string | null;
  service_id: string | null;
  rating: number;
  comment: string | null;
  reply: string | null;
  replied_at: string | null;
  created_at: string;
  updated_at: string;
}

export type ReviewBody = { rating: number; comment?: string } & ({ contract_id: string } | { booking_id: string });

export interface ReviewFilters extends PageParams {
  reviewee_id?: string;
  service_id?: string;
  author_id?: string;
}

export interface LikeState {
  liked: boolean;
  likes_count: number;
}

// --- messaging --------------------------------------------------------------------------

export interface ChatMessage {
  id: string;
  conversation_id: string;
  seq: number;
  sender_id: string;
  body: string;
  sent_at: string;
  client_msg_id?: string;
  edited_at?: string;
  deleted: boolean;
  /** The files sent with it (absent when none; empty once the message is deleted). */
  attachments?: MessageAttachment[];
}

// --- attachments (docs/attachments.md) --------------------------------------------------

export type AttachmentKind = "image" | "document" | "audio" | "video";

/** A file as a message carries it (a snapshot; no signed links). */
export interface MessageAttachment {
  id: string;
  kind: AttachmentKind;
  name: string;
  size: number;
  /** The content type sniffed from the bytes. */
  type: string;
  width?: number;
  height?: number;
  duration_ms?: number;
  /** Voice notes: 64 peak amplitudes, 0..=255. */
  peaks?: number[];
  /** PDFs. */
  pages?: number;
  /** Images: `/api/attachments/{id}/thumbnail` (a redirect for members with the token). */
  thumbnail_url?: string;
}

/** `GET /api/attachments/{id}`: the metadata with short-lived signed links. */
export interface Attachment {
  id: string;
  kind: AttachmentKind;
  name: string;
  size: number;
  content_type: string;
  width?: number;
  height?: number;
  duration_ms?: number;
  peaks?: number[];
  pages?: number;
  sha256: string;
  thumbnail_url?: string;
  preview_url?: string;
  url: string;
  url_expires_at: string;
  created_at: string;
}

/** One image of a service's public gallery. */
export interface GalleryImage {
  id: string;
  width: number | null;
  height: number | null;
  /** 320 px; answers anyone (a redirect to a signed link). */
  thumbnail_url: string;
  /** 1280 px. */
  preview_url: string;
}

export interface Conversation {
  id: string;
  kind: "direct" | "group";
  title: string | null;
  participant_ids: string[];
  created_by: string;
  created_at: string;
  last_activity_at: string;
  /** The seq of the newest message (0 when empty). */
  last_seq: number;
  last_message: ChatMessage | null;
  unread_count: number;
  /** The caller's read cursor. */
  read_seq: number;
}

export interface CreateConversationBody {
  /** The other members (the caller is always a member). */
  participant_ids: string[];
  /** A titled conversation is a group even with two members. */
  title?: string;
}

export interface HistoryParams {
  /** Only messages with a smaller seq (default: from the newest). */
  before_seq?: number;
  limit?: number;
  /** The previous page's `next_cursor` (same as `before_seq`). */
  cursor?: string | null;
}

export interface ReadCursor {
  conversation_id: string;
  seq: number;
}

// --- notifications ----------------------------------------------------------------------

export interface NotificationFilters extends PageParams {
  /** `true`: only unread ones. */
  unread?: boolean;
}

export interface UnreadCount {
  /** Unread notifications. */
  count: number;
  /** Conversations with unread messages (among the 100 most recent). */
  conversations: number;
}

export interface TypePreference {
  in_app: boolean;
  email: boolean;
}

export type Digest = "none" | "daily" | "weekly";

export interface Preferences {
  types: Record<NotificationType, TypePreference>;
  digest: Digest;
}

export interface PreferencesPatch {
  types?: Partial<Record<NotificationType, Partial<TypePreference>>>;
  digest?: Digest;
}
