//! Shared support of the criterion benches: after a run, read criterion's
//! estimates and print each contender's time per operation with its ratio
//! to ringroute, so every bench reports peers side by side the same way.

pub mod cputime;
pub mod fixtures;
pub mod report;
