//! The one loop of background jobs: a pass every `every`, never two passes of one job at
//! once (a pass that outlasts the interval makes the next tick skip). Digests, booking
//! reminders and the intent sweeper run on it. A pass answers how many items it handled;
//! a failed pass is logged and counted (`agora_background_failures_total{job}`) and the
//! next tick tries again.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use actix::prelude::*;
use futures_util::future::LocalBoxFuture;
use time::OffsetDateTime;

type Pass = Box<dyn FnMut(OffsetDateTime) -> LocalBoxFuture<'static, Result<usize, String>>>;

pub struct Periodic {
    job: &'static str,
    every: Duration,
    pass: Pass,
    running: bool,
}

impl Periodic {
    /// `pass(now)` is one run of the job.
    pub fn new<F, Fut, E>(job: &'static str, every: Duration, mut pass: F) -> Periodic
    where
        F: FnMut(OffsetDateTime) -> Fut + 'static,
        Fut: Future<Output = Result<usize, E>> + 'static,
        E: Display,
    {
        let pass: Pass = Box::new(move |now| {
            let run = pass(now);
            Box::pin(async move { run.await.map_err(|e| e.to_string()) })
        });
        Periodic { job, every, pass, running: false }
    }
}

impl Actor for Periodic {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.every, |act, ctx| {
            if act.running {
                return;
            }
            act.running = true;
            let job = act.job;
            ctx.spawn((act.pass)(OffsetDateTime::now_utc()).into_actor(act).map(move |res, act, _| {
                act.running = false;
                match res {
                    Ok(0) => {}
                    Ok(items) => tracing::info!(job, items, "background pass done"),
                    Err(error) => {
                        metrics::counter!("agora_background_failures_total", "job" => job).increment(1);
                        tracing::error!(job, %error, "background pass failed");
                    }
                }
            }));
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[actix::test]
    async fn a_slow_pass_is_never_run_twice_at_once() {
        let (now_running, most, runs) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (r, m, n) = (Arc::clone(&now_running), Arc::clone(&most), Arc::clone(&runs));
        let _job = Periodic::new("test", Duration::from_millis(10), move |_| {
            let (r, m, n) = (Arc::clone(&r), Arc::clone(&m), Arc::clone(&n));
            async move {
                let running = r.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(running, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                r.fetch_sub(1, Ordering::SeqCst);
                n.fetch_add(1, Ordering::SeqCst);
                Ok::<usize, String>(1)
            }
        })
        .start();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(most.load(Ordering::SeqCst), 1, "passes overlapped");
        let done = runs.load(Ordering::SeqCst);
        assert!((2..=8).contains(&done), "a 50 ms pass every 10 ms runs about 7 times in 400 ms, not {done}");
    }
}
