//! Worker integration tests against the real PostgreSQL, Redis and RabbitMQ.
//! Each test has its own database and namespace (see `helpers`).

mod helpers;

mod accepted;
mod batch;
mod cancel;
mod contention;
mod database_tls;
mod dead_letters;
mod expiry;
mod fencing;
mod flow;
mod fuzz;
mod hygiene;
mod linked;
mod metrics;
mod outage;
mod pipeline;
mod poison;
mod recovery;
mod replay;
mod robustness;
mod soak;
mod storage;
mod takeover;
mod webhooks;
