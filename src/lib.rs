//! jules-bridge: connects GitHub issues and pull requests to Google's Jules coding agent.
//!
//! - [`jules`]: a typed client for the Jules REST API (v1alpha).
//! - [`engine`]: the pure decisions (commands, permissions, prompts, comment texts).
//! - [`payload`]: GitHub event payloads -> domain events.
//! - [`github`]: the GitHub calls, over octocrab.
//! - [`handler`]: acting on one event; shared by the Action and the server.
//! - [`action`]: the GitHub Action's runner contract.
//! - [`cli`]: the `jules-bridge` command line.

pub mod action;
pub mod cli;
pub mod engine;
pub mod github;
pub mod handler;
pub mod jules;
pub mod payload;
pub mod repo_config;
pub mod server;
pub mod simulate;
pub mod store;
