//! `git-credential-hf`: git's credential helper for the Hugging Face Hub, answered by hf-authd.
//! Always exits 0 and prints nothing but protocol lines on stdout. Its `main` is C's
//! (`hf_auth::entry`): git starts it once per fetch or push, so start-up counts.

#![no_main]

hf_auth::c_main!(run);

fn run() -> u8 {
    let args: Vec<String> = std::env::args().collect();
    let env = hf_auth_proto::Env::from_process();
    hf_auth::git_credential::helper::main_with(&args, &env, std::io::stdin().lock(), std::io::stdout().lock())
}
