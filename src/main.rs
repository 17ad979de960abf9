//! The `aviso` command line; declared and dispatched in [`aviso::app::cli`].

fn main() -> std::process::ExitCode {
    aviso::app::cli::main()
}
