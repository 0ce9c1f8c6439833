export interface Money {
  amount: number;
  currency: string;
}
export interface User {
  id: string;
  email?: string | null;
  username?: string | null;
  role: "client" | "worker" | "provider" | "admin";
  first_name: string;
  last_name: string;
  email_verified: boolean;
  created_at: string;
}
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
  liked?: boolean;
  created_at: string;
}
export interface Provider {
  id: string;
  user_id: string;
  bio: string;
  hourly_rate: Money;
  city: string | null;
  country: string | null;
  category_ids: string[];
  skills: { skill_id: string; level: string }[];
  availability: string;
  is_verified: boolean;
  rating_avg: number;
  reviews_count: number;
  completed_jobs: number;
  created_at: string;
}
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
  status: string;
  proposals_count: number;
  created_at: string;
}
export interface Proposal {
  id: string;
  job_id: string;
  job_client_id: string;
  provider_id: string;
  rate: Money;
  message: string | null;
  status: string;
  contract_id: string | null;
  created_at: string;
}
export interface Contract {
  id: string;
  job_id: string;
  proposal_id: string;
  client_id: string;
  provider_id: string;
  title: string;
  agreed_rate: Money;
  deadline: string | null;
  status: string;
  created_at: string;
  updated_at: string;
}
export interface ContractEvent {
  from: string | null;
  to: string;
  actor_id: string;
  actor_role: string;
  reason: string | null;
  at: string;
  version: number;
}
export interface Review {
  id: string;
  author_id: string;
  reviewee_id: string;
  service_id: string | null;
  rating: number;
  comment: string | null;
  reply: string | null;
  created_at: string;
}
export interface Message {
  id: string;
  conversation_id: string;
  seq: number;
  sender_id: string;
  body: string;
  sent_at: string;
  deleted?: boolean;
  edited_at?: string | null;
  client_msg_id?: string;
}
export interface Conversation {
  id: string;
  kind: string;
  title: string | null;
  participant_ids: string[];
  last_activity_at: string;
  last_seq: number;
  last_message: Message | null;
  unread_count: number;
  read_seq: number;
}
export interface Notification {
  id: string;
  type: string;
  title: string;
  message: string;
  action_url: string | null;
  read: boolean;
  created_at: string;
}
export interface Category {
  id: string;
  name: string;
  parent_id: string | null;
}
export interface Booking {
  id: string;
  service_id: string;
  client_id: string;
  provider_id: string;
  start_at: string;
  end_at: string;
  status: string;
  price: Money;
  paid: boolean;
  note: string | null;
  created_at: string;
}
