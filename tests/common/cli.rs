//! Runs the `alpaca-auth` binary this `cargo test` built, with no
//! environment but the variables a test gives it.
#![allow(dead_code)]

use std::process::{Command, Output};

/// The `alpaca-auth` command with `args`, an empty environment but `env`.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_alpaca-auth"));
    command.args(args).env_clear().envs(env.iter().copied());
    command
}

/// Runs `alpaca-auth` with `args` and only the variables `env`.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    command(args, env).output().expect("the binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Everything the run printed, stdout then stderr.
pub fn printed(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}
