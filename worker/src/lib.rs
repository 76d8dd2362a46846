//! Anteroom worker (library).
pub mod engine;
