//! The mutation root's parts, one module per aggregate.

pub mod accounts;
pub mod deals;
pub mod pipeline;
