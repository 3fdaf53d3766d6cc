//! The operations behind the API, independent of HTTP. Each one writes a person's personal and
//! behavioral rows only to their home cell, and sends public counter changes through the
//! gateway.

pub mod accounts;
pub mod erasure;
pub mod feed;
pub mod interest;
pub mod keys;
pub mod operators;
pub mod social;
pub mod videos;
