//! The stress targets. Each lands with its primitive.

use super::Target;

/// Every target, in the order `stress all` runs them.
pub fn all() -> Vec<Target> {
    vec![
        ("mutex", super::sync::mutex),
        ("rlock", super::sync::rlock),
        ("semaphore", super::sync::semaphore),
        ("value", super::sync::value),
        ("event", super::sync::event),
        ("condition", super::sync::condition),
        ("barrier", super::sync::barrier),
        ("spsc", super::rings::spsc),
        ("bytes", super::rings::bytes),
        ("mpmc", super::queue::mpmc),
        ("queue", super::queue::run),
        ("pipe", super::sync::pipe),
        ("pool", super::pool::run),
        ("scribble", super::scribble::run),
    ]
}
