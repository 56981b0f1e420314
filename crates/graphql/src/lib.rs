//! The GraphQL API of dealtrail: the schema (`schema`, with `accounts` and `corrections`
//! merged in), knowing nothing of HTTP, and a short axum wiring (`server`) with
//! bearer-token authentication (`auth`).

mod accounts;
pub mod auth;
mod corrections;
mod page;
pub mod schema;
pub mod server;

pub use auth::{Identity, Role, TokenError, Tokens};
pub use schema::{DealtrailSchema, build, sdl};
pub use server::{ServerConfig, router, run};
