//! Outgoing email. With `smtp_url` set, mail goes out over SMTP (lettre); otherwise each
//! message is written as one RFC 5322 `.eml` file under the outbox folder, which is also
//! where a message lands if SMTP delivery fails, so nothing is lost.

use std::path::PathBuf;

use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    outbox: PathBuf,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl Mailer {
    pub fn new(from: &str, outbox: PathBuf, smtp_url: Option<&str>) -> anyhow::Result<Self> {
        let from: Mailbox = from.parse().map_err(|e| anyhow::anyhow!("email_from {from:?}: {e}"))?;
        // The outbox holds reset and verification tokens: owner-only (0700, files 0600).
        agora_storage::private_fs::create_private_dir(&outbox)
            .map_err(|e| anyhow::anyhow!("cannot create outbox {}: {e}", outbox.display()))?;
        let smtp = match smtp_url {
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("smtp_url: {e}"))?
                    .build(),
            ),
            None => None,
        };
        Ok(Mailer { from, outbox, smtp })
    }

    pub fn outbox(&self) -> &PathBuf {
        &self.outbox
    }

    /// Sends (or files) a plain-text message. Failures are logged, never shown to the
    /// requester: the endpoints that send mail answer the same either way.
    pub async fn send(&self, to: &str, subject: &str, body: String) {
        let message = match to.parse::<Mailbox>().map_err(|e| e.to_string()).and_then(|to| {
            Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(subject)
                .header(ContentType::TEXT_PLAIN)
                .body(body)
                .map_err(|e| e.to_string())
        }) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "could not build an email");
                return;
            }
        };
        if let Some(smtp) = &self.smtp {
            match smtp.send(message.clone()).await {
                Ok(_) => {
                    metrics::counter!("agora_emails_total", "channel" => "smtp", "outcome" => "sent").increment(1);
                    return;
                }
                Err(e) => {
                    metrics::counter!("agora_emails_total", "channel" => "smtp", "outcome" => "failed").increment(1);
                    tracing::warn!(error = %e, "SMTP delivery failed; keeping the message in the outbox");
                }
            }
        }
        self.write_file(&message.formatted()).await;
    }

    async fn write_file(&self, bytes: &[u8]) {
        let name = format!("{}.eml", uuid::Uuid::now_v7());
        let tmp = self.outbox.join(format!(".{name}.tmp"));
        let path = self.outbox.join(&name);
        let bytes = bytes.to_vec();
        let tmp_for_write = tmp.clone();
        let result = async {
            tokio::task::spawn_blocking(move || agora_storage::private_fs::write_private_file(&tmp_for_write, &bytes))
                .await
                .map_err(std::io::Error::other)??;
            tokio::fs::rename(&tmp, &path).await
        }
        .await;
        match result {
            Ok(()) => {
                metrics::counter!("agora_emails_total", "channel" => "outbox", "outcome" => "written").increment(1);
                tracing::info!(file = %path.display(), "email written to the outbox");
            }
            Err(e) => {
                metrics::counter!("agora_emails_total", "channel" => "outbox", "outcome" => "failed").increment(1);
                tracing::error!(error = %e, "could not write an email to the outbox");
            }
        }
    }
}
