//! The adapters to the outside services: Redis ([`redis_store`]: connection, timeouts,
//! `503` while it is unreachable) and RabbitMQ ([`publisher`]: reservation commands with
//! publisher confirms, answers by direct reply-to) and PostgreSQL for the venue's back
//! office only ([`back_office`], and the venue's API keys in [`api_keys`]).

pub mod api_keys;
pub mod back_office;
pub mod publisher;
pub mod redis_store;
pub mod webhook_store;
