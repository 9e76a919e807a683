//! Helpers shared by the test binaries that run the `doorward` binary.
//! Each binary uses a part of them.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

/// The binary, run in `dir` with cheap argon2 and no `DOORWARD_*` or
/// `RUST_LOG` from the outer environment.
pub fn doorward(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_doorward"));
    cmd.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("DOORWARD_") {
            cmd.env_remove(name);
        }
    }
    cmd.env_remove("RUST_LOG")
        .env("DOORWARD_PASSWORD_HASH_MEMORY_KIB", "1024")
        .env("DOORWARD_PASSWORD_HASH_ITERATIONS", "1");
    cmd
}

/// A loopback port free at the moment of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
