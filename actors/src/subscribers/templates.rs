//! The one place notification copy lives: which domain event notifies whom, with what.

use agora_engine::{BookingStatus, DomainEvent, NotificationType};

use crate::broker::NewNotification;
use crate::protocol::rfc3339;

fn note(
    to: agora_engine::UserId,
    kind: NotificationType,
    title: impl Into<String>,
    message: String,
    action_url: String,
    actor: agora_engine::UserId,
    object: (&str, String),
) -> NewNotification {
    NewNotification {
        user: to,
        kind,
        title: title.into(),
        message,
        action_url: Some(action_url),
        actor_id: Some(actor),
        object_type: Some(object.0.to_string()),
        object_id: Some(object.1),
        expires_at: None,
        id: None,
    }
}

/// The reminder of a confirmed booking, to both parties, under the claimed id `id`.
pub fn reminder(
    b: &agora_engine::Booking,
    kind: agora_storage::availability::ReminderKind,
    service_title: Option<&str>,
    id: agora_engine::NotificationId,
) -> Vec<NewNotification> {
    use agora_storage::availability::ReminderKind;
    let when = match kind {
        ReminderKind::DayBefore => "tomorrow",
        ReminderKind::HourBefore => "in one hour",
    };
    let what = service_title.unwrap_or("Your booking");
    [(b.client_id, b.provider_id), (b.provider_id, b.client_id)]
        .into_iter()
        .map(|(to, other)| NewNotification {
            id: Some(id),
            expires_at: Some(b.start_at),
            ..note(
                to,
                NotificationType::Booking,
                "Booking reminder",
                format!("{what} starts {when}, at {}", rfc3339(b.start_at)),
                format!("/bookings/{}", b.id),
                other,
                ("booking", b.id.to_string()),
            )
        })
        .collect()
}

/// Who hears of a milestone's move, and what.
fn milestone_notes(
    c: &agora_engine::Contract,
    m: &agora_engine::payment::Milestone,
    by: Option<agora_engine::UserId>,
) -> Vec<NewNotification> {
    use agora_engine::payment::MilestoneStatus as S;
    let (client, provider) = (c.client_id, c.provider_id);
    let part = |minor: i64| {
        agora_engine::Money::of(minor, m.amount.currency()).map(|x| x.to_string()).unwrap_or_else(|_| minor.to_string())
    };
    let (title, message, to): (&str, String, Vec<agora_engine::UserId>) = match m.status {
        S::Funded => (
            "Milestone funded",
            format!("\"{}\" ({}) is funded and held in escrow.", m.title, m.amount),
            vec![provider],
        ),
        S::Submitted => {
            ("Milestone submitted", format!("\"{}\" was submitted for your approval.", m.title), vec![client])
        }
        S::ChangesRequested => {
            ("Changes requested", format!("The client asked for changes to \"{}\".", m.title), vec![provider])
        }
        S::Released => (
            "Milestone released",
            format!("\"{}\" ({}) was released to the provider.", m.title, part(m.released)),
            if by.is_none() { vec![provider, client] } else { vec![provider] },
        ),
        S::Refunded => (
            "Milestone refunded",
            format!("\"{}\" ({}) was refunded to the client.", m.title, part(m.refunded)),
            vec![client, provider],
        ),
        S::Split => ("Dispute resolved", format!("\"{}\" was settled by an admin.", m.title), vec![client, provider]),
        S::Unfunded | S::Removed => return Vec::new(),
    };
    to.into_iter()
        .filter(|u| Some(*u) != by)
        .map(|u| NewNotification {
            actor_id: by,
            ..note(
                u,
                NotificationType::Payment,
                title,
                format!("{message} Contract: \"{}\".", c.title),
                format!("/contracts/{}/milestones", c.id),
                by.unwrap_or(client),
                ("milestone", m.id.to_string()),
            )
        })
        .collect()
}

/// Whether an event sends notifications (what the notifier subscribes to).
pub fn notifies(event: &DomainEvent) -> bool {
    use DomainEvent as E;
    !matches!(
        event,
        E::ProposalWithdrawn { .. }
            | E::ReviewEdited { .. }
            | E::ReviewDeleted { .. }
            | E::JobChanged { .. }
            | E::CatalogChanged { .. }
            | E::ServiceLiked { .. }
            | E::SearchPerformed { .. }
    )
}

/// The notifications an event sends (none for most).
pub fn notifications(event: &DomainEvent) -> Vec<NewNotification> {
    use DomainEvent as E;
    match event {
        E::ProposalSubmitted { proposal: p, job_title } => vec![note(
            p.job_client_id,
            NotificationType::Proposal,
            "New proposal",
            format!("A new proposal arrived for \"{job_title}\"."),
            format!("/jobs/{}/proposals/{}", p.job_id, p.id),
            p.provider_id,
            ("proposal", p.id.to_string()),
        )],
        E::JobWithdrawn { job, proposals } => proposals
            .iter()
            .map(|p| {
                note(
                    p.provider_id,
                    NotificationType::Proposal,
                    "Job withdrawn",
                    format!("The client withdrew \"{}\"; your proposal on it is closed.", job.title),
                    format!("/proposals/{}", p.id),
                    job.client_id,
                    ("proposal", p.id.to_string()),
                )
            })
            .collect(),
        E::ProposalAccepted { proposal: p, job_title, by } => vec![note(
            p.provider_id,
            NotificationType::Proposal,
            "Proposal accepted",
            format!("Your proposal for \"{job_title}\" was accepted."),
            format!("/proposals/{}", p.id),
            *by,
            ("proposal", p.id.to_string()),
        )],
        E::ContractCreated { contract: c, by } => vec![note(
            c.provider_id,
            NotificationType::Contract,
            "New contract",
            format!("A contract for \"{}\" was created.", c.title),
            format!("/contracts/{}", c.id),
            *by,
            ("contract", c.id.to_string()),
        )],
        E::ContractStatusChanged { contract: c, by, .. } => crate::market::contracts::others(c, *by)
            .map(|to| {
                note(
                    to,
                    NotificationType::Contract,
                    format!("Contract {}", c.status.as_str()),
                    format!("The contract \"{}\" is now {}.", c.title, c.status.as_str()),
                    format!("/contracts/{}", c.id),
                    *by,
                    ("contract", c.id.to_string()),
                )
            })
            .collect(),
        E::BookingRequested { booking: b, service_title } => vec![note(
            b.provider_id,
            NotificationType::Booking,
            "New booking request",
            format!("{service_title} from {} to {}", rfc3339(b.start_at), rfc3339(b.end_at)),
            format!("/bookings/{}", b.id),
            b.client_id,
            ("booking", b.id.to_string()),
        )],
        E::BookingStatusChanged { booking: b, by, service_title } => {
            let title = match b.status {
                BookingStatus::Confirmed => "Booking confirmed",
                BookingStatus::Declined => "Booking declined",
                BookingStatus::Completed => "Booking completed",
                BookingStatus::Requested => return Vec::new(),
                BookingStatus::Cancelled => "Booking cancelled",
            };
            vec![note(
                b.other_party(*by),
                NotificationType::Booking,
                title,
                format!(
                    "{} on {} is now {}",
                    service_title.as_deref().unwrap_or("Your booking"),
                    rfc3339(b.start_at),
                    b.status.as_str()
                ),
                format!("/bookings/{}", b.id),
                *by,
                ("booking", b.id.to_string()),
            )]
        }
        E::ReviewPosted { review: r } => vec![note(
            r.reviewee_id,
            NotificationType::Review,
            "New review",
            format!("You received a {}-star review", r.rating),
            format!("/reviews/{}", r.id),
            r.author_id,
            ("review", r.id.to_string()),
        )],
        E::ReviewReplied { review: r, by } => vec![note(
            r.author_id,
            NotificationType::Review,
            "Reply to your review",
            "The person you reviewed replied to your review".into(),
            format!("/reviews/{}", r.id),
            *by,
            ("review", r.id.to_string()),
        )],
        E::MilestoneChanged { contract: c, milestone: m, by } => milestone_notes(c, m, *by),
        E::PartRefunded { contract: c, milestone: m, amount, by } => vec![note(
            c.client_id,
            NotificationType::Payment,
            "Partial refund",
            format!("{amount} of \"{}\" was refunded to your card. Contract: \"{}\".", m.title, c.title),
            format!("/contracts/{}/milestones", c.id),
            *by,
            ("milestone", m.id.to_string()),
        )],
        E::PaymentFailed { payment: p } => vec![note(
            p.payer_id,
            NotificationType::Payment,
            "Payment failed",
            format!("Your payment of {} was declined ({}).", p.amount, p.failure.as_deref().unwrap_or("card_declined")),
            format!("/payments/{}", p.id),
            p.payee_id,
            ("payment", p.id.to_string()),
        )],
        E::PayoutChanged { payout: p } => {
            let (title, message) = match p.status {
                agora_engine::payment::PayoutStatus::Paid => {
                    ("Payout completed", format!("Your payout of {} was paid.", p.amount))
                }
                _ => (
                    "Payout failed",
                    format!(
                        "Your payout of {} failed ({}); the money is back in your wallet.",
                        p.amount,
                        p.failure.as_deref().unwrap_or("payout_failed")
                    ),
                ),
            };
            vec![NewNotification {
                actor_id: None,
                ..note(
                    p.user_id,
                    NotificationType::Payment,
                    title,
                    message,
                    format!("/payouts/{}", p.id),
                    p.user_id,
                    ("payout", p.id.to_string()),
                )
            }]
        }
        E::ProposalWithdrawn { .. }
        | E::ReviewEdited { .. }
        | E::ReviewDeleted { .. }
        | E::JobChanged { .. }
        | E::CatalogChanged { .. }
        | E::ServiceLiked { .. }
        | E::SearchPerformed { .. } => Vec::new(),
    }
}
