//! Agora actix actors: per-user session actors, the conversation registry, the
//! notification broker, contract and payment actors, and the cluster bus. The realtime
//! core issue fills this crate; today nothing depends on it at run time.
