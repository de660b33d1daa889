//! `hf-auth`: parse flags, run one command, map the result to an exit code (0 ok, 1 failure, 2 usage).

use clap::Parser;
use hf_auth::cli::Cli;
use hf_auth::failure::Failure;
use hf_auth::output::Out;
use hf_auth::session::Session;
use hf_auth_proto::Env;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = Env::from_process();
    let out = Out::new(cli.output.format(), env.non_empty("NO_COLOR").is_some());
    let result = Session::new(env, out.clone()).and_then(|session| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::msg(format!("cannot start the async runtime: {e}")))?;
        runtime.block_on(hf_auth::commands::run(cli, session))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Message(text)) => {
            out.error(&text);
            ExitCode::FAILURE
        }
        Err(Failure::Exit(code)) => ExitCode::from(code),
    }
}
