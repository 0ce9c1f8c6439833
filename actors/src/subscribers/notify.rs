//! Turns domain events into notifications (copy from [`super::templates`]) for the broker,
//! which applies preferences, stores, pushes live and emails. Fire and forget: the broker
//! logs its own failures.

use actix::prelude::*;

use crate::broker::{NotificationBroker, Notify};
use crate::bus::Published;

pub struct Notifier {
    broker: Addr<NotificationBroker>,
}

impl Notifier {
    pub fn new(broker: Addr<NotificationBroker>) -> Notifier {
        Notifier { broker }
    }
}

impl Actor for Notifier {
    type Context = Context<Self>;
}

impl Handler<Published> for Notifier {
    type Result = ();

    fn handle(&mut self, msg: Published, _: &mut Context<Self>) {
        for n in super::templates::notifications(&msg.event) {
            self.broker.do_send(Notify(n));
        }
    }
}
