//! basegate: a security-baseline scanner and CI gate for Azure infrastructure-as-code.
//!
//! The pipeline runs one way: discover → parse → evaluate → check → triage → report.
//! See ARCHITECTURE.md in the shared folder for the big picture; each module's header says
//! which stage it is.

pub mod model;
pub mod source;
pub mod terraform;
