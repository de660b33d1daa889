//! One file per command. Each takes the session and its arguments and returns a result the
//! binary maps to an exit code.

pub mod audit;
pub mod daemon;
pub mod exec;
pub mod info;
pub mod login;
pub mod logout;
pub mod setup_git;
pub mod ssh;
pub mod status;
pub mod storage;
pub mod switch;
pub mod which;

use crate::cli::{Cli, Command};
use crate::failure::CmdResult;
use crate::session::Session;
use clap::CommandFactory;

pub async fn run(cli: Cli, session: Session) -> CmdResult {
    match cli.command {
        Command::Login(args) => login::run(&session, args).await,
        Command::Logout(args) => logout::run(&session, args).await,
        Command::Switch(args) => switch::run(&session, args).await,
        Command::List => info::list(&session).await,
        Command::Token(args) => info::token(&session.choosing(&args)).await,
        Command::Whoami(args) => {
            info::whoami(&session.choosing(&crate::cli::ChoiceArgs { name: args, ..Default::default() })).await
        }
        Command::Which(args) => which::run(&session.choosing(&args)).await,
        Command::Status => status::run(&session).await,
        Command::Exec(args) => exec::run(&session, args).await,
        Command::SetupGit(args) => setup_git::run(&session, args.force, args.unset),
        Command::Storage(cmd) => storage::run(&session, cmd).await,
        Command::Daemon(cmd) => daemon::run(&session, cmd).await,
        Command::Ssh(args) => ssh::run(&session, args.args).await,
        Command::Audit(args) => audit::run(&session, args.since).await,
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "hf-auth", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(())
        }
    }
}
