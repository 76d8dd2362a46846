//! The adapters to the outside services: Redis ([`redis_store`]: connection, timeouts,
//! `503` while it is unreachable) and RabbitMQ ([`publisher`]: reservation commands with
//! publisher confirms, answers by direct reply-to).

pub mod publisher;
pub mod redis_store;
