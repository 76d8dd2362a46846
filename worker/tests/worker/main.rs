//! Worker integration tests against the real PostgreSQL, Redis and RabbitMQ.
//! Each test has its own database and namespace (see `helpers`).

mod helpers;

mod contention;
mod expiry;
mod fencing;
mod flow;
mod fuzz;
mod hygiene;
mod metrics;
mod outage;
mod pipeline;
mod recovery;
mod replay;
mod robustness;
mod takeover;
