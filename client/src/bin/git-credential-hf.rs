//! `git-credential-hf`: git's credential helper for the Hugging Face Hub, answered by hf-authd.
//! Always exits 0 and prints nothing but protocol lines on stdout.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let env = hf_auth_proto::Env::from_process();
    let code =
        hf_auth::git_credential::helper::main_with(&args, &env, std::io::stdin().lock(), std::io::stdout().lock());
    std::process::ExitCode::from(code)
}
