//! Project automation. `cargo xtask ci` runs every check CI runs, in order.
fn main() {}
