//! The contract between hf-authd and its clients.
pub mod pb {
    tonic::include_proto!("hfauth.v1");
}
