//! Every error code Agora answers with, in one pinned list. HTTP envelopes and WebSocket
//! `error` frames use only these; `ALL` is checked against docs/architecture.md
//! ("Error codes") by a test, and the HTTP layer's tests check every code it can produce.

pub const VALIDATION_FAILED: &str = "validation_failed";
pub const FORBIDDEN: &str = "forbidden";
pub const NOT_FOUND: &str = "not_found";
pub const INVALID_TRANSITION: &str = "invalid_transition";
pub const CONFLICT: &str = "conflict";
pub const CONCURRENT_UPDATE: &str = "concurrent_update";
pub const DUPLICATE: &str = "duplicate";
pub const JOB_NOT_OPEN: &str = "job_not_open";
pub const DUPLICATE_PROPOSAL: &str = "duplicate_proposal";
pub const PROPOSAL_NOT_PENDING: &str = "proposal_not_pending";
pub const ALREADY_ACCEPTED: &str = "already_accepted";
pub const BOOKING_OVERLAP: &str = "booking_overlap";
pub const OUTSIDE_AVAILABILITY: &str = "outside_availability";
pub const NOT_COMPLETED: &str = "not_completed";
pub const ALREADY_REVIEWED: &str = "already_reviewed";
pub const ALREADY_REPLIED: &str = "already_replied";
pub const NAME_TAKEN: &str = "name_taken";
pub const HAS_CHILDREN: &str = "has_children";
pub const PROFILE_EXISTS: &str = "profile_exists";
pub const CONTRACT_NOT_PAYABLE: &str = "contract_not_payable";
pub const INSUFFICIENT_FUNDS: &str = "insufficient_funds";
pub const PAYMENT_DECLINED: &str = "payment_declined";
pub const NOTHING_TO_FUND: &str = "nothing_to_fund";
pub const MILESTONES_LOCKED: &str = "milestones_locked";
pub const IDEMPOTENCY_KEY_REUSED: &str = "idempotency_key_reused";
pub const IDEMPOTENCY_KEY_IN_USE: &str = "idempotency_key_in_use";
pub const INVALID_SIGNATURE: &str = "invalid_signature";
pub const FUNDING_REQUIRED: &str = "funding_required";
pub const MILESTONE_UNFUNDED: &str = "milestone_unfunded";
pub const PAYMENT_METHOD_REQUIRED: &str = "payment_method_required";
pub const CSRF_FAILED: &str = "csrf_failed";
// Attachments and uploads (docs/attachments.md).
pub const UNSUPPORTED_FILE_TYPE: &str = "unsupported_file_type";
pub const FILE_TYPE_NOT_ALLOWED: &str = "file_type_not_allowed";
pub const FILE_TOO_LARGE: &str = "file_too_large";
pub const MEDIA_TOO_LONG: &str = "media_too_long";
pub const QUOTA_EXCEEDED: &str = "quota_exceeded";
pub const UNREADABLE_FILE: &str = "unreadable_file";
pub const HOSTILE_FILE: &str = "hostile_file";
pub const UPLOAD_OFFSET_MISMATCH: &str = "upload_offset_mismatch";
pub const CHECKSUM_MISMATCH: &str = "checksum_mismatch";
pub const UPLOAD_EXPIRED: &str = "upload_expired";
pub const UPLOAD_INCOMPLETE: &str = "upload_incomplete";
pub const LINK_EXPIRED: &str = "link_expired";
pub const ATTACHMENT_IN_USE: &str = "attachment_in_use";

/// Every code, sorted.
pub const ALL: &[&str] = &[
    "already_accepted",
    "already_replied",
    "already_reviewed",
    "already_verified",
    "attachment_in_use",
    "bad_request",
    "blocked",
    "booking_overlap",
    "checksum_mismatch",
    "concurrent_update",
    "conflict",
    "contract_not_payable",
    "csrf_failed",
    "duplicate",
    "duplicate_proposal",
    "email_taken",
    "error",
    "file_too_large",
    "file_type_not_allowed",
    "forbidden",
    "funding_required",
    "has_children",
    "hostile_file",
    "idempotency_key_in_use",
    "idempotency_key_reused",
    "insufficient_funds",
    "internal",
    "internal_error",
    "invalid",
    "invalid_body",
    "invalid_credentials",
    "invalid_cursor",
    "invalid_frame",
    "invalid_json",
    "invalid_query",
    "invalid_signature",
    "invalid_token",
    "invalid_transition",
    "job_not_open",
    "link_expired",
    "media_too_long",
    "method_not_allowed",
    "milestone_unfunded",
    "milestones_locked",
    "name_taken",
    "not_completed",
    "not_found",
    "nothing_to_fund",
    "outside_availability",
    "payload_too_large",
    "payment_declined",
    "payment_method_required",
    "profile_exists",
    "proposal_not_pending",
    "quota_exceeded",
    "rate_limited",
    "refresh_token_reused",
    "service_unavailable",
    "token_expired",
    "token_not_yet_valid",
    "token_revoked",
    "too_many_connections",
    "unauthorized",
    "unknown_type",
    "unreadable_file",
    "unsupported_file_type",
    "unsupported_media_type",
    "upload_expired",
    "upload_incomplete",
    "upload_offset_mismatch",
    "username_taken",
    "validation_failed",
    "websocket_upgrade_required",
    "wrong_token_type",
];

/// Whether `code` is in the pinned list.
pub fn is_known(code: &str) -> bool {
    ALL.binary_search(&code).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_unique_snake_case() {
        for w in ALL.windows(2) {
            assert!(w[0] < w[1], "{} before {}", w[0], w[1]);
        }
        for c in ALL {
            assert!(c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'), "{c}");
        }
        for c in [
            VALIDATION_FAILED,
            FORBIDDEN,
            NOT_FOUND,
            INVALID_TRANSITION,
            JOB_NOT_OPEN,
            BOOKING_OVERLAP,
            OUTSIDE_AVAILABILITY,
        ] {
            assert!(is_known(c), "{c}");
        }
    }

    /// docs/architecture.md lists exactly these codes between its "Error codes" markers.
    #[test]
    fn documented_codes_match() {
        let doc = include_str!("../../docs/architecture.md");
        let start = doc.find("<!-- codes:start -->").expect("codes:start marker in docs/architecture.md");
        let end = doc.find("<!-- codes:end -->").expect("codes:end marker in docs/architecture.md");
        let mut documented: Vec<&str> = doc[start..end]
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|s| s.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect();
        documented.sort_unstable();
        documented.dedup();
        assert_eq!(documented, ALL, "docs/architecture.md codes differ from engine::codes::ALL");
    }
}
