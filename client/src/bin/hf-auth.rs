//! `hf-auth`: parse flags, run one command, map the result to an exit code (0 ok, 1 failure, 2 usage).
//! Its `main` is C's (`hf_auth::entry`): scripts call `hf-auth token` often, so start-up counts.

#![no_main]

use hf_auth::cli::Cli;
use hf_auth::failure::Failure;
use hf_auth::output::Out;
use hf_auth::session::Session;
use hf_auth_proto::Env;

hf_auth::c_main!(run);

fn run() -> u8 {
    let cli = Cli::parse_args(std::env::args_os().collect());
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
        Ok(()) => 0,
        Err(Failure::Message(text)) => {
            out.error(&text);
            1
        }
        Err(Failure::Exit(code)) => code,
    }
}
