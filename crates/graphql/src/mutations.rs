//! The mutation root's parts, one module per aggregate.

pub mod accounts;
pub mod capture;
pub mod deals;
pub mod erasure;
pub mod pipeline;
