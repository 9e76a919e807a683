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

/// Each argon2id hash needs its whole memory cost (19 MiB by default) at
/// once. The hash threads keep one such block each (see
/// `doorward_core::hash_pool`); any other large block (the start-up dummy
/// hash, an imported hash with a higher cost) must go back to the OS when
/// freed. glibc serves such blocks with mmap, but after the first free it
/// raises its mmap threshold to that size and keeps later blocks in
/// per-thread arenas (measured before the hash threads: RSS 19 → 77 MiB after
/// three sign-ups). A fixed threshold turns the adjustment off: blocks of
/// 1 MiB and more always go back to the OS. Two arenas (instead of up to
/// 8 × cores, one per thread that allocates) keep freed memory from being
/// spread over many heaps; two async workers rarely contend on them.
fn return_large_blocks_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
