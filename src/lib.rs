//! jules-bridge: connects GitHub issues and pull requests to Google's Jules coding agent.
//!
//! - [`jules`]: a typed client for the Jules REST API (v1alpha).
//! - [`engine`]: the pure decisions (commands, permissions, prompts, comment texts).
//! - [`payload`]: GitHub event payloads -> domain events.
//! - [`cli`]: the `jules-bridge` command line.

pub mod cli;
pub mod engine;
pub mod jules;
pub mod payload;
