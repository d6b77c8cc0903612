//! eval: folding ARM template expressions to values (evaluate stage).
//!
//! [`interp`] walks a parsed [`crate::arm::expr::Expr`], asking a [`Scope`] for the
//! context-dependent functions (`parameters`, `variables`, `copyIndex`, user functions, …) and
//! falling back to the pure library in [`functions`]. Values are the model's tri-state
//! [`crate::model::Value`]: whatever is not decidable before deployment evaluates to
//! `Value::Unknown`, and unknowns propagate only as far as they must.

pub mod functions;
pub mod interp;

pub use interp::{eval, EvalError, NoScope, PathStep, Scope};
