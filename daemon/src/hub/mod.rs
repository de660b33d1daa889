//! Talking to the Hub: whoami (validated and cached) and the OAuth endpoints.

pub mod cache;
pub mod client;
pub mod oauth;
pub mod whoami;

pub use cache::{Freshness, WhoamiCache};
pub use client::{HubClient, HubError};
pub use whoami::WhoAmI;
