//! Talking to the Hub: whoami (validated and cached), the OAuth endpoints, OIDC exchange.

pub mod cache;
pub mod client;
pub mod oauth;
pub mod oidc;
pub mod whoami;

pub use cache::{Freshness, WhoamiCache};
pub use client::{HubClient, HubError};
pub use whoami::WhoAmI;
