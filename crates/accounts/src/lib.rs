//! People's accounts.
//!
//! Owns: sign-up (placing the account in the home region of its country, personal fields
//! sealed under the person's own key), sign-in and sessions, the account view, what the home
//! cell holds about a person ([`accounts::data_location`]), erasure by crypto-shredding
//! ([`erasure`]) and rotation of a region's key ([`keys`]).
//!
//! Must not know: HTTP, or other subsystems; it writes a person's rows only in their home cell
//! and sends counter changes only through the gateway.

pub mod accounts;
pub mod erasure;
pub mod keys;

#[cfg(test)]
mod tests;
