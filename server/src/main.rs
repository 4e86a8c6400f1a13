//! `wick`: serve a model as a web demo and an inference server, make and
//! deploy bundles, roll versions out, with the tasks Wick ships. A user's
//! binary with tasks of its own is the same one line over another registry
//! (`wick_server::main_with`).

fn main() -> anyhow::Result<()> {
    wick_server::main_with(wick_engine::tasks::builtin())
}
