//! Stand-alone sandbox init for tests and embedders: the same entry point the `strata`
//! binary calls first thing in `main`, packaged so a test harness (which cannot be
//! re-executed as init) can point `BuiltinExecutor::with_init_program` at it.

fn main() {
    solver::sandbox::sandbox_init_if_requested();
    // Started without the marker: nothing to do; say so through the exit code only.
    std::process::exit(2);
}
