//! arm: the ARM template dialect (parse stage). For now only the template expression
//! language (`"[concat(...)]"`), which Bicep and azapi also lower to.

pub mod expr;
