//! The token store: huggingface_hub's two files, read and written byte-compatibly.
//!
//! - [`ini`]: the `stored_tokens` codec (configparser semantics in, Python's bytes out).
//! - [`disk`]: one home's files on disk, read-modify-write under the shared lock.
//! - [`ops`]: huggingface_hub's operations (`_save_token`, switch, logout) on top of [`disk`].
//! - [`legacy_json`]: importing the JSON layout another CLI writes at the same path.
//! - [`keyring`]: the OS keyring, where keyring mode keeps the secrets.
//! - [`keyring_worker`]: the one thread that calls it, with a bounded queue and a backoff.
//! - [`origin`]: the record of the endpoint (and OAuth client) that issued a token.
//! - [`migrate`]: moving every stored token between the file and the keyring.

pub mod disk;
pub mod ini;
pub mod keyring;
pub mod keyring_worker;
pub mod legacy_json;
pub mod migrate;
pub mod ops;
pub mod origin;
