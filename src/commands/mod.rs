//! One module per subcommand; each parses nothing itself beyond its clap `Args`.

pub mod algos;
pub mod score;
pub mod train;
pub mod demo;
pub mod init_model;
pub mod data;
pub mod eval;
