//! The GraphQL API of dealtrail: the schema (`schema`), knowing nothing of HTTP, and a short
//! axum wiring (`server`) with bearer-token authentication (`auth`).

pub mod auth;
pub mod schema;
pub mod server;

pub use auth::{Identity, Role, TokenError, Tokens};
pub use schema::{DealtrailSchema, build, sdl};
pub use server::{ServerConfig, router, run};
