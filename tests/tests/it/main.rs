//! Cove's multi-node integration tests: one binary, one module per area.

mod ads;
mod closed_group;
mod hostile_sync;
mod processes;
mod scenario;
mod social;
mod sync;
