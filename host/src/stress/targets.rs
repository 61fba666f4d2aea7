//! The stress targets. Each lands with its primitive.

use super::Target;

/// Every target, in the order `stress all` runs them.
pub fn all() -> Vec<Target> {
    vec![("pool", super::pool::run), ("queue", super::queue::run)]
}
