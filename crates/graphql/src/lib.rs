//! The GraphQL API of dealtrail: the schema (`schema`, with `accounts` and `corrections`
//! merged in), knowing nothing of HTTP, and a short axum wiring (`server`) with
//! bearer-token authentication (`auth`).

mod accounts;
pub mod auth;
pub mod checks;
mod corrections;
mod graphiql;
pub mod http;
mod node;
mod page;
pub mod scalars;
pub mod schema;
pub mod server;

pub use auth::{Identity, Role, TokenError, Tokens};
pub use schema::{DealtrailSchema, build, sdl};
pub use server::{InvalidOrigin, ServerConfig, router, run};
