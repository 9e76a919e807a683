//! `doorward`: parse the command line and dispatch. Nothing else lives here.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    doorward::cli::main().await
}
