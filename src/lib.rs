//! jules-bridge: connects GitHub issues and pull requests to Google's Jules coding agent.
//!
//! - [`jules`]: a typed client for the Jules REST API (v1alpha).
//! - [`cli`]: the `jules-bridge` command line.

pub mod cli;
pub mod jules;
