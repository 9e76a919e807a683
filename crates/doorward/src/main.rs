//! `doorward`: parse the command line and dispatch. Nothing else lives here
//! but one allocator setting that must happen before any thread starts.

use std::process::ExitCode;

fn main() -> ExitCode {
    return_large_blocks_to_the_os();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(doorward::cli::main())
}

/// Each argon2id hash allocates its whole memory cost (19 MiB by default) at
/// once. glibc serves such blocks with mmap, but after the first free it
/// raises its mmap threshold to that size and keeps later blocks in per-thread
/// arenas, so every hashing thread ends up holding 19 MiB it no longer uses
/// (measured: RSS 19 → 77 MiB after three sign-ups). A fixed threshold turns
/// the adjustment off: blocks of 1 MiB and more always go back to the OS.
fn return_large_blocks_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
