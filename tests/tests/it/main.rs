//! Cove's multi-node integration tests: one binary, one module per area.

mod ads;
mod attacks;
mod closed_group;
mod epochs;
mod faults;
mod governance;
mod harness;
mod hostile_sync;
mod metrics;
mod migration;
mod nat;
mod one_address;
mod processes;
mod restarts;
mod scenario;
mod secrets;
mod sim;
mod social;
mod sync;
mod tickets;
mod web;
