//! The decisions: pure logic, no I/O.

pub mod checks;
pub mod ci_fixer;
pub mod command;
pub mod comment;
pub mod decide;
pub mod escape;
pub mod event;
pub mod marker;
pub mod policy;
pub mod prompt;
pub mod render;
pub mod request_tag;
pub mod sanitize;
pub mod settings;
pub mod status;
pub mod triage;
