//! Downloads one file with the `hf-hub` crate, using the token hf-authd chooses for that repo.
//!
//! ```text
//! cargo run -p hf-auth --example hf_hub_download -- acme/private-model config.json ./out
//! ```
//!
//! hf-hub 1.x reads `HF_TOKEN` or the token file by itself, but not a keyring-held token, not an
//! OAuth token that needs refreshing, and not the token a routing rule picks for this repo: the
//! daemon knows all of these. With no daemon running, `HfAuth::token` falls back to the same
//! env/file order huggingface_hub uses, so this works on any machine.

use hf_auth::HfAuth;
use std::path::PathBuf;
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [repo, file, dest] = args.as_slice() else {
        eprintln!("usage: hf_hub_download OWNER/NAME FILE DEST_DIR");
        return ExitCode::from(2);
    };
    match run(repo, file, dest).await {
        Ok(path) => {
            println!("{}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(repo: &str, file: &str, dest: &str) -> Result<PathBuf, Box<dyn std::error::Error>> {
    // The environment is read once here: HF_ENDPOINT, HF_HOME, HF_AUTH_SOCKET, routing inputs.
    let auth = HfAuth::from_env()?.repo(repo);
    let endpoint = auth.context().endpoint.clone();
    let mut client = hf_hub::HFClient::builder().endpoint(endpoint);
    match auth.token().await? {
        Some(resolved) => {
            eprintln!(
                "token {} from {:?} ({})",
                resolved.token, // Display is masked
                resolved.source,
                if resolved.from_daemon { "hf-authd" } else { "no daemon: huggingface_hub's env/file order" }
            );
            client = client.token(resolved.token.expose());
        }
        None => eprintln!("no token: downloading without one"),
    }
    let (owner, name) = repo.split_once('/').ok_or("the repo must be OWNER/NAME")?;
    let path =
        client.build()?.model(owner, name).download_file().filename(file).local_dir(PathBuf::from(dest)).send().await?;
    Ok(path)
}
