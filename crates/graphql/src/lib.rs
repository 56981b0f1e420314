//! The GraphQL API of dealtrail. The schema knows nothing of HTTP: its roots (`schema`) merge
//! one object per concern, each in the module named after what it serves — the raw log
//! (`log`), deals (`deals`), the funnel (`funnel`, with its `cache`), the process analyses
//! (`analyses`), accounts (`accounts`), `node`, the mutations of each aggregate
//! (`mutations`), corrections (`corrections`) and `subscriptions` — over shared pieces:
//! scalars, errors, access checks, "as of" moments, the command path (`write`), paging.
//! The axum wiring (`server`, `http`, `graphiql`) and bearer tokens (`auth`) sit beside it.

mod access;
mod accounts;
mod analyses;
mod asof;
pub mod audit;
pub mod auth;
mod backup;
pub mod budget;
mod cache;
mod capture;
pub mod checks;
mod corrections;
pub mod cost;
mod deals;
mod errors;
mod flow;
mod funnel;
mod graphiql;
mod health;
pub mod hooks;
pub mod http;
mod log;
pub mod metrics;
mod mutations;
mod node;
mod page;
mod process;
mod rates;
mod records;
pub mod scalars;
pub mod schema;
pub mod scope;
mod segments;
pub mod server;
mod subscriptions;
pub mod webapp;
mod write;

pub use auth::{Identity, Role, TokenError, Tokens};
pub use schema::{DealtrailSchema, build, sdl};
pub use server::{InvalidOrigin, ServerConfig, SetupError, router, run};
