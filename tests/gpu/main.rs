//! The GPU code path, executed: the package's tests on a GPU backend (`--features wgpu`), as
//! one test binary. CI runs it on Mesa's lavapipe, a Vulkan device on the CPU that compiles and
//! runs the same cubecl kernels a GPU runs; `cargo xtask gpu` runs it on a real GPU.
//!
//! ```sh
//! cargo test --features wgpu --test gpu                          # the first non-CPU adapter,
//!                                                                # else lavapipe
//! PREFZOO_TEST_DEVICE=wgpu:1 cargo test --features wgpu --test gpu
//! ```
//!
//! Every test compares the GPU backend with the CPU backend (flex) on the golden fixtures, and
//! where the fixtures carry them with trl's and transformers' numbers. Tolerances are stated
//! per test; the common cause of differences is the reduction order of the kernels (a matmul's
//! or a softmax's sum split differently across threads), f32 throughout. Without a device the
//! tests are skipped with a message, unless `PREFZOO_GPU_REQUIRED=1` or `CI=true`, where a
//! missing device fails them. `PREFZOO_REPO_ROOT` and `PREFZOO_BIN` point a binary built on
//! another machine at the repository and the `prefzoo` binary (`cargo xtask gpu --prebuilt`).

mod common;

mod checkpointing;
mod devices;
mod losses;
mod memory;
mod packed;
mod precision;
mod resume;
mod score;
mod trajectory;
