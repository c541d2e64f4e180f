//! A typed client for the Jules REST API (v1alpha).
//!
//! - [`models`]: every resource, field and enum of the contract, parsed tolerantly.
//! - [`JulesClient`]: the 12 methods, with bounded retries ([`retry`]), paged lists as
//!   streams, exactly-once session creation ([`create`]) and a polling [`watch`].

pub mod budget;
mod client;
pub mod create;
mod error;
pub mod models;
mod open_enum;
mod paging;
pub mod retry;
pub mod watch;

pub use client::{format_timestamp, CallObserver, ClientConfig, JulesClient, DEFAULT_API_URL};
pub use create::{request_tag_of, strip_request_tag, RequestTag};
pub use error::{ApiError, JulesError};
pub use models::*;
pub use retry::RetryPolicy;
pub use watch::{WatchEvent, WatchOptions};
