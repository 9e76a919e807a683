//! `doorward user create`: make an account from the command line.

use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use doorward_core::accounts::SignupInput;
use doorward_core::clock::{Clock, SystemClock};
use doorward_core::Error;

use super::{load_settings, Cli};
use crate::app;

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create an account (the password is asked for, or read from stdin)
    Create(CreateArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub username: Option<String>,
    /// Give the account the `admin` role
    #[arg(long)]
    pub admin: bool,
    /// Read the password from the first line of standard input instead of a prompt
    #[arg(long)]
    pub password_stdin: bool,
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = rpassword::prompt_password("Password: ")?;
    let again = rpassword::prompt_password("Password (again): ")?;
    if first != again {
        anyhow::bail!("the passwords do not match");
    }
    Ok(first)
}

pub async fn run(cli: &Cli, cmd: &UserCommand) -> anyhow::Result<ExitCode> {
    let UserCommand::Create(args) = cmd;
    let password = read_password(args.password_stdin)?;
    let settings = load_settings(&cli.overrides(None))?;
    let clock = Arc::new(SystemClock);
    let state = app::build(settings, clock.clone()).await?;
    let input = SignupInput {
        email: &args.email,
        password: &password,
        username: args.username.as_deref(),
    };
    match state
        .accounts
        .create_user(input, args.admin, clock.now())
        .await
    {
        Ok(user) => {
            println!(
                "created user {} <{}>{}",
                user.id,
                user.email,
                if args.admin { " with role admin" } else { "" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(Error::Invalid(errors)) => {
            for e in errors {
                eprintln!("error: {}: {}", e.field, e.message);
            }
            Ok(ExitCode::from(2))
        }
        Err(Error::WeakPassword { reason, .. }) => {
            eprintln!("error: password: {reason}");
            Ok(ExitCode::from(2))
        }
        Err(Error::EmailTaken) => {
            eprintln!("error: an account with this email exists already");
            Ok(ExitCode::from(2))
        }
        Err(Error::UsernameTaken) => {
            eprintln!("error: this username is taken");
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}
