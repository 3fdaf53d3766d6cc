//! The vault's integration tests, in one binary (link time dominates on small machines).

#[path = "vault/chain.rs"]
mod chain;
#[path = "vault/field_and_shredding.rs"]
mod field_and_shredding;
#[path = "vault/kms.rs"]
mod kms;
